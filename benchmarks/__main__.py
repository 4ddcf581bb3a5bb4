"""``python -m benchmarks [ARGS]``: run the benchmark suite (today: the load benchmark).

``python -m benchmarks datagen [ARGS]`` only generates the cached CSV;
``python -m benchmarks load [ARGS]`` is the same as no sub-command.
"""

from __future__ import annotations

import sys

from benchmarks import datagen, load


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "datagen":
        return datagen.main(args[1:])
    if args and args[0] == "load":
        args = args[1:]
    return load.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
