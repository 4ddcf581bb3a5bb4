"""The partition function: one slice of one run, batch by batch.

Every executor calls `execute_slice` — the local one for each slice in turn, the Celery
slice task for its slice, replay for its one slice of quarantined records; only the
dispatch differs. For each chunk the source yields, the slice validates and transforms
it in a background thread, one chunk ahead (`prefetch`), then commits it
(`polaretl.run.batch.commit`): the rows, what the run's ledger keeps of them and the
run's counters, in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import psycopg

from polaretl.core import LoadContext
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import CheckpointConflictError
from polaretl.extract.base import Extractor
from polaretl.extract.storable import screen
from polaretl.record import slices
from polaretl.record.checkpoints import Position
from polaretl.record.slices import SliceStatus
from polaretl.redact import redact_text
from polaretl.run import batch
from polaretl.run.batch import Batch, Ledger, SliceStats
from polaretl.run.prefetch import prefetch
from polaretl.transform import apply

Progress = Callable[[dict[str, Any]], None]


def run_slice(
    pipeline: Definition,
    link: Link,
    ctx: LoadContext,
    source: Extractor,
    ledger: Ledger,
    *,
    slice: str,
    state: Position,
    stats: SliceStats,
    progress: Progress | None = None,
) -> None:
    """Run one slice of run `ctx.run_id` from `state` to its end, counting into `stats`."""
    seq = state.seq

    def prepared() -> Iterator[Batch]:
        chunks = source.read(slice, state.state, pipeline.chunk_size)
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            t1 = time.perf_counter()
            stats.timings["extract"] += t1 - t0
            if chunk is None:
                return
            # text PostgreSQL cannot store: quarantined here, whatever the source
            chunk = screen(chunk, getattr(pipeline.validator, "columns", None))
            split = pipeline.validator.split(chunk)
            t2 = time.perf_counter()
            frame = apply(pipeline.transforms, split.valid)
            t3 = time.perf_counter()
            stats.timings["validate"] += t2 - t1
            stats.timings["transform"] += t3 - t2
            parts = [p for p in (chunk.rejects, split.quarantined) if p is not None and p.height]
            bad = pl.concat(parts) if parts else split.quarantined
            yield Batch(chunk, split, frame, bad)

    for item in prefetch(prepared(), depth=1):
        seq += 1
        batch.commit(pipeline, link, ctx, ledger, slice, seq, item, stats)
        if progress is not None:
            progress(
                {
                    "slice": slice,
                    "batch": seq,
                    "processed": item.chunk.received,
                    "loaded": item.frame.height,
                    "rejected": item.quarantined.height,
                }
            )


@dataclass(frozen=True)
class SliceOutcome:
    """How one attempt at a slice ended: succeeded, failed, duplicate (another copy of
    the same task committed first and owns the slice) or abandoned (attempt cap)."""

    slice: str
    status: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"slice": self.slice, "status": self.status, "error": self.error}


def execute_slice(
    pipeline: Definition,
    link: Link,
    ctx: LoadContext,
    source: Extractor,
    ledger: Ledger,
    *,
    slice: str,
    progress: Progress | None = None,
    max_attempts: int | None = None,
) -> SliceOutcome:
    """One attempt at one slice, recorded in ``polaretl.slices`` with what it committed.
    Raises what `run_slice` raises, after recording it."""
    run_id = ctx.run_id
    attempts = slices.attempt(link.conn, run_id, slice)
    stats = SliceStats()
    if max_attempts is not None and attempts > max_attempts:
        error = (
            f"Slice {slice!r} was started {attempts - 1} times and its worker died each "
            f"time (attempt cap {max_attempts}); giving up. Look for a record or file that "
            "crashes the process (out of memory?), fix it, and run again."
        )
        _end(link.conn, run_id, slice, SliceStatus.FAILED, stats, error)
        return SliceOutcome(slice, "abandoned", error)
    state = ledger.position(link.conn, slice)
    try:
        run_slice(
            pipeline,
            link,
            ctx,
            source,
            ledger,
            slice=slice,
            state=state,
            stats=stats,
            progress=progress,
        )
    except CheckpointConflictError as exc:
        return SliceOutcome(slice, "duplicate", str(exc))
    except BaseException as exc:
        try:
            _end(
                link.conn,
                run_id,
                slice,
                SliceStatus.FAILED,
                stats,
                redact_text(str(exc) or repr(exc)),
            )
        except psycopg.Error:
            pass
        raise
    _end(link.conn, run_id, slice, SliceStatus.SUCCEEDED, stats, None)
    return SliceOutcome(slice, SliceStatus.SUCCEEDED)


def _end(
    conn: psycopg.Connection[Any],
    run_id: int,
    slice: str,
    status: SliceStatus,
    stats: SliceStats,
    error: str | None,
) -> None:
    slices.end(
        conn,
        run_id,
        slice,
        status=status,
        counts={
            "processed": stats.processed,
            "valid": stats.valid,
            "rejected": stats.rejected,
            "loaded": stats.loaded,
        },
        timings=stats.timings,
        metrics=stats.metrics(),
        error=error,
    )
