"""Run the `crashy` pipeline in this process and SIGKILL it at one point of batch N.

Usage: python -m tests.faults.killrun URL CSV_GLOB CHUNK_SIZE STAGE N

STAGE, in the order a batch meets them:
  extract     the extractor is producing chunk N
  validate    the contract is splitting chunk N
  transform   the transforms are running on chunk N
  copy        half-way through the COPY stream of batch N (transaction open)
  merge       the loader has merged batch N (COPY-first or staging + ON CONFLICT)
  quarantine  batch N's rejects are written, its checkpoint not yet
  checkpoint  batch N's checkpoint is written, the transaction not yet committed
  commit      batch N has committed, before the next batch starts

Exits by SIGKILL when the point is reached; normally (0) if it never is, which the
test treats as a failure.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

import polaretl as pe
import polaretl.load.postgres as postgres
import polaretl.run.batch as batch_module
from contracts.orders import Order
from polaretl.extract.base import Chunk

STAGES = (
    "extract",
    "validate",
    "transform",
    "copy",
    "merge",
    "quarantine",
    "checkpoint",
    "commit",
)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def on_call(target: int, fn: Callable[..., Any], *, before: bool = False) -> Callable[..., Any]:
    """`fn`, killing the process on its `target`-th call (before or after it runs)."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if before and calls == target:
            die()
        result = fn(*args, **kwargs)
        if calls == target:
            die()
        return result

    return wrapper


def half_copy(target: int) -> Callable[..., None]:
    """`postgres._copy` that dies after sending part of the `target`-th stream."""
    original = postgres._copy
    calls = 0

    def copy(conn: Any, table: Any, frame: pl.DataFrame) -> None:
        nonlocal calls
        calls += 1
        if calls != target:
            original(conn, table, frame)
            return
        original(conn, table, frame.head(frame.height // 2))  # some rows are in the table...
        die()  # ...and the transaction holding them is open

    return copy


def pipeline(pattern: str, chunk_size: int, transforms: list[Any] | None = None) -> pe.Pipeline:
    return pe.Pipeline(
        "crashy",
        extractor=pe.CsvExtractor(pattern),
        contract=Order,
        transforms=transforms or [],
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
        chunk_size=chunk_size,
    )


def main() -> None:
    url, pattern, chunk_size, stage, n = sys.argv[1:6]
    target = int(n)
    # the transforms' first call is the output-schema probe on an empty frame
    transforms = [on_call(target + 1, lambda lf: lf)] if stage == "transform" else []
    p = pipeline(pattern, int(chunk_size), transforms)
    progress = None
    if stage == "extract":
        read = p.extractor.read
        produced = 0

        def read_then_die(*args: Any, **kwargs: Any) -> Iterator[Chunk]:
            nonlocal produced
            for chunk in read(*args, **kwargs):
                produced += 1
                if produced == target:
                    die()
                yield chunk

        p.extractor.read = read_then_die  # type: ignore[method-assign]
    elif stage == "validate":
        p.validator.split = on_call(target, p.validator.split)  # type: ignore[method-assign]
    elif stage == "transform":
        pass  # the killing transform is in the pipeline
    elif stage == "copy":
        postgres._copy = half_copy(target)  # type: ignore[assignment]
    elif stage == "merge":
        p.loader.load = on_call(target, p.loader.load)  # type: ignore[method-assign]
    elif stage == "quarantine":
        batch_module.quarantine.write = on_call(target, batch_module.quarantine.write)  # type: ignore[attr-defined]
    elif stage == "checkpoint":
        batch_module.checkpoints.commit = on_call(target, batch_module.checkpoints.commit)  # type: ignore[attr-defined]
    elif stage == "commit":
        progress = on_call(target, lambda event: None)
    else:
        raise SystemExit(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    p.run(database_url=url, progress=progress)


if __name__ == "__main__":
    main()
