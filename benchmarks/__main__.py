"""``python -m benchmarks [ARGS]``: the whole suite (`benchmarks.suite`; ``make bench``).

``python -m benchmarks load [ARGS]`` runs the load table alone (`benchmarks.load`);
``python -m benchmarks datagen [ARGS]`` only generates the cached CSV;
``python -m benchmarks celery [ARGS]`` runs Celery scaling alone.
"""

from __future__ import annotations

import sys

from benchmarks import datagen, load, suite


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "datagen":
        return datagen.main(args[1:])
    if args and args[0] == "load":
        return load.main(args[1:])
    if args and args[0] == "celery":
        from benchmarks import celery_scaling

        return celery_scaling.main(args[1:])
    return suite.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
