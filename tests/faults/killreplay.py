"""Replay the `crashy` pipeline's corrected records in this process and SIGKILL it at one
point of batch N.

Usage: python -m tests.faults.killreplay URL CSV_GLOB CHUNK_SIZE STAGE N

STAGE, in the order a replay's batch meets them:
  extract     the quarantine extractor is producing chunk N
  validate    the contract is splitting chunk N
  transform   the transforms are running on chunk N
  load        the loader has loaded batch N (transaction open)
  mark        batch N's records are marked replayed, its counts not yet written
  commit      batch N has committed, before the next batch starts

Exits by SIGKILL when the point is reached; normally (0) if it never is, which the
test treats as a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import polaretl.run.replay as replay_module
from polaretl.core import Chunk
from polaretl.db import resolve_url
from polaretl.quality.extractor import QuarantineExtractor
from polaretl.run.local import run_here
from tests.faults.killrun import die, on_call, pipeline

STAGES = ("extract", "validate", "transform", "load", "mark", "commit")


def main() -> None:
    url, pattern, chunk_size, stage, n = sys.argv[1:6]
    target = int(n)
    # the transforms' first call is the output-schema probe on an empty frame
    transforms = [on_call(target + 1, lambda lf: lf)] if stage == "transform" else []
    p = pipeline(pattern, int(chunk_size), transforms)
    progress = None
    if stage == "extract":
        read = QuarantineExtractor.read
        produced = 0

        def read_then_die(self: Any, *args: Any, **kwargs: Any) -> Iterator[Chunk]:
            nonlocal produced
            for chunk in read(self, *args, **kwargs):
                produced += 1
                if produced == target:
                    die()
                yield chunk

        QuarantineExtractor.read = read_then_die  # type: ignore[method-assign]
    elif stage == "validate":
        p.validator.split = on_call(target, p.validator.split)  # type: ignore[method-assign]
    elif stage == "transform":
        pass  # the killing transform is in the pipeline
    elif stage == "load":
        p.loader.load = on_call(target, p.loader.load)  # type: ignore[method-assign]
    elif stage == "mark":
        replay_module.quarantine.mark_replayed = on_call(  # type: ignore[attr-defined]
            target,
            replay_module.quarantine.mark_replayed,  # type: ignore[attr-defined]
        )
    elif stage == "commit":
        progress = on_call(target, lambda event: None)
    else:
        raise SystemExit(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    url = resolve_url(url)
    job = replay_module.Replay(p, url, run_id=None, ids=None, corrected=None)
    run_here(job, url, progress)


if __name__ == "__main__":
    main()
