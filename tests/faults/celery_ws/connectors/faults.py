"""Pipelines of the Celery fault scenarios (tests/faults/test_celery_faults.py).

A worker started with ``POLARETL_TEST_KILL=STAGE:N`` SIGKILLs its own process the Nth
time (counted per process) it passes STAGE, once per scenario: the first process to get
there creates the file ``POLARETL_TEST_KILL_MARKER`` and dies; later ones see the file
and go on, so the redelivered task completes. Stages: extract (the extractor yields a
chunk), validate (the contract split a chunk), transform, copy (rows COPYed, inside the
batch's transaction), merge (upsert merged from staging, inside the transaction),
checkpoint (checkpoint row written, inside the transaction), commit (just after the
batch's transaction committed).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import polars as pl

import polaretl as pe
from contracts.faultparts import FaultPart

STAGES = ("extract", "validate", "transform", "copy", "merge", "checkpoint", "commit")


def slow(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Sleep per batch when POLARETL_TEST_SLOW is set (seconds)."""
    delay = float(os.environ.get("POLARETL_TEST_SLOW", "0"))
    if delay:
        time.sleep(delay)
    return lf


faulty = pe.Pipeline(
    "faulty",
    extractor=pe.CsvExtractor("data/parts/*.csv"),
    contract=FaultPart,
    transforms=[slow],
    loader=pe.PostgresLoader("faulty_parts", key="part_id", mode="upsert"),
    chunk_size=50,
    concurrency=2,
)

# One lane: its slices run one after the other, so a redelivered copy of a slice runs
# next to the first copy instead of waiting behind another slice.
slowpoke = pe.Pipeline(
    "slowpoke",
    extractor=pe.CsvExtractor("data/parts/*.csv"),
    contract=FaultPart,
    transforms=[slow],
    loader=pe.PostgresLoader("slowpoke_parts", key="part_id", mode="upsert"),
    chunk_size=50,
    concurrency=1,
)


class Tick(pe.Extractor):
    """One new record per run: the key after the last one committed."""

    def read(self, slice, state, chunk_size):  # type: ignore[no-untyped-def]
        n = (state or {}).get("n", 0) + 1
        frame = pl.DataFrame({"part_id": [str(n)], "qty": ["1"], "label": [f"tick {n}"]})
        yield pe.Chunk(frame, source=f"tick {n}", position={"n": n})


ticker = pe.Pipeline(
    "faultticker",
    extractor=Tick(),
    contract=FaultPart,
    transforms=[slow],
    loader=pe.PostgresLoader("fault_ticks", key="part_id", mode="upsert"),
    schedule="1s",
)


def _install_kill_point() -> None:
    spec = os.environ.get("POLARETL_TEST_KILL")
    if not spec:
        return
    stage, _, nth = spec.partition(":")
    if stage not in STAGES:
        raise ValueError(f"POLARETL_TEST_KILL: unknown stage {stage!r}")
    target, marker = int(nth), os.environ["POLARETL_TEST_KILL_MARKER"]
    calls = 0

    def maybe_die() -> None:
        nonlocal calls
        calls += 1
        if calls != target:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # killed once already: this is the redelivery
        os.write(fd, f"{stage}:{target} pid {os.getpid()}\n".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    def after(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            maybe_die()
            return result

        return wrapper

    import polaretl.load.postgres as postgres
    import polaretl.run.batch as batch_module
    import polaretl.run.slice as slice_module
    from polaretl.record import checkpoints

    if stage == "extract":
        read = pe.CsvExtractor.read

        def read_then_die(self, slice, state, chunk_size):  # type: ignore[no-untyped-def]
            for chunk in read(self, slice, state, chunk_size):
                maybe_die()
                yield chunk

        pe.CsvExtractor.read = read_then_die  # type: ignore[method-assign]
    elif stage == "validate":
        faulty.validator.split = after(faulty.validator.split)  # type: ignore[method-assign]
    elif stage == "transform":
        slice_module.apply = after(slice_module.apply)  # type: ignore[attr-defined]
    elif stage == "copy":
        postgres._copy = after(postgres._copy)  # type: ignore[attr-defined]
    elif stage == "merge":
        load = pe.PostgresLoader.load

        def merge_then_die(self, conn, frame, ctx):  # type: ignore[no-untyped-def]
            ctx.state.copy_first = False  # as if the target had rows: staging + merge
            result = load(self, conn, frame, ctx)
            maybe_die()
            return result

        pe.PostgresLoader.load = merge_then_die  # type: ignore[method-assign]
    elif stage == "checkpoint":
        checkpoints.commit = after(checkpoints.commit)
    else:
        batch_module.commit = after(batch_module.commit)  # type: ignore[assignment]


_install_kill_point()
