"""The partition function: one slice of one run, batch by batch.

Both executors call `run_slice`; only the dispatch differs. For each chunk the
extractor yields, the slice validates and transforms it (in a background thread, one
chunk ahead), then commits in ONE transaction: the loaded rows, the quarantined
records, the slice's checkpoint and the run's counters. A crash anywhere leaves the
whole batch or none of it, and the next run resumes after the last commit.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from polaretl.core import Chunk, Connection, LoadContext, Split
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import CheckpointConflictError, TransientLoadError, is_transient
from polaretl.record import checkpoints, quarantine, runs, schema_versions, slices
from polaretl.record.slices import SliceStatus
from polaretl.redact import redact_text
from polaretl.run import batch
from polaretl.run.prefetch import prefetch
from polaretl.transform import apply

Progress = Callable[[dict[str, Any]], None]


@dataclass
class SliceStats:
    """What one slice did; summed into the run."""

    processed: int = 0
    valid: int = 0
    rejected: int = 0
    loaded: int = 0
    written: int = 0
    deduplicated: int = 0
    batches: int = 0
    bytes_read: int = 0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, other: SliceStats) -> None:
        for name in (
            "processed",
            "valid",
            "rejected",
            "loaded",
            "written",
            "deduplicated",
            "batches",
            "bytes_read",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for stage, seconds in other.timings.items():
            self.timings[stage] += seconds


@dataclass
class _Prepared:
    chunk: Chunk
    split: Split
    frame: pl.DataFrame
    quarantined: pl.DataFrame


def run_slice(
    pipeline: Definition,
    link: Link,
    ctx: LoadContext,
    *,
    slice: str,
    state: checkpoints.Position,
    progress: Progress | None = None,
) -> SliceStats:
    """Run one slice of run `ctx.run_id` from `state` to its end; return its counts and
    timings."""
    stats = SliceStats()
    seq = state.seq

    def prepared() -> Iterator[_Prepared]:
        chunks = pipeline.extractor.read(slice, state.state, pipeline.chunk_size)
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            t1 = time.perf_counter()
            stats.timings["extract"] += t1 - t0
            if chunk is None:
                return
            split = pipeline.validator.split(chunk)
            t2 = time.perf_counter()
            frame = apply(pipeline.transforms, split.valid)
            t3 = time.perf_counter()
            stats.timings["validate"] += t2 - t1
            stats.timings["transform"] += t3 - t2
            parts = [p for p in (chunk.rejects, split.quarantined) if p is not None and p.height]
            bad = pl.concat(parts) if parts else split.quarantined
            yield _Prepared(chunk, split, frame, bad)

    for item in prefetch(prepared(), depth=1):
        seq += 1
        _commit_batch(pipeline, link, ctx, slice, seq, item, stats)
        stats.processed += item.chunk.received
        stats.valid += item.split.valid.height
        stats.rejected += item.quarantined.height
        stats.batches += 1
        stats.bytes_read += item.chunk.bytes_read
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
    return stats


def _commit_batch(
    pipeline: Definition,
    link: Link,
    ctx: LoadContext,
    slice: str,
    seq: int,
    item: _Prepared,
    stats: SliceStats,
) -> None:
    """Commit one batch; on a `Transient` error (a dropped connection) reconnect and retry
    the same batch."""
    for attempt in Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(max(pipeline.retries, 1)),
        wait=wait_exponential(multiplier=0.5, max=10),
        reraise=True,
    ):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                link.reconnect()
            try:
                _write_batch(pipeline, link.conn, ctx, slice, seq, item, stats)
            except psycopg.OperationalError as exc:
                raise TransientLoadError(
                    f"The database connection dropped while committing batch {seq} of "
                    f"{slice!r}; the batch was rolled back and is retried.",
                ) from exc


def _write_batch(
    pipeline: Definition,
    conn: Connection,
    ctx: LoadContext,
    slice: str,
    seq: int,
    item: _Prepared,
    stats: SliceStats,
) -> None:
    t0 = time.perf_counter()
    with conn.transaction():
        # Data-quality hook: the slice's first batch records a change in the source's
        # shape (columns, inferred types) in polaretl.schema_versions, committed with it.
        if stats.batches == 0:
            schema_versions.observe(
                conn,
                pipeline.name,
                ctx.run_id,
                item.chunk,
                slice,
                required=getattr(pipeline.validator, "columns", ()),
            )
        result = pipeline.loader.load(conn, item.frame, ctx)
        t1 = time.perf_counter()
        # Data-quality hook: rows the loader refused as repeats of keys this run already
        # loaded (on_duplicate="quarantine") join the batch's quarantine (`moved` of them,
        # counted as rejected, not valid); repeats are added to the run's metrics.
        bad, moved = batch.absorb(conn, ctx, item.chunk, item.quarantined, result)
        quarantine.write(conn, bad, run_id=ctx.run_id, pipeline=ctx.pipeline, slice=slice)
        checkpoints.commit(
            conn,
            ctx.pipeline,
            slice,
            seq=seq,
            run_id=ctx.run_id,
            state=item.chunk.position,
            received=item.chunk.received,
            loaded=result.loaded,
            rejected=bad.height,
        )
        runs.add_batch(
            conn,
            ctx.run_id,
            processed=item.chunk.received,
            valid=item.split.valid.height - moved,
            rejected=bad.height,
            loaded=result.loaded,
        )
    stats.valid -= moved  # run_slice adds the split's counts after the commit
    stats.rejected += moved
    t2 = time.perf_counter()
    stats.timings["load"] += t1 - t0
    stats.timings["record"] += t2 - t1
    stats.loaded += result.loaded
    stats.written += result.written
    stats.deduplicated += result.deduplicated


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
    *,
    slice: str,
    progress: Progress | None = None,
    max_attempts: int | None = None,
) -> SliceOutcome:
    """One attempt at one slice, recorded in ``polaretl.slices``; the same code for both
    executors. Raises what `run_slice` raises, after recording it."""
    run_id = ctx.run_id
    attempts = slices.attempt(link.conn, run_id, slice)
    conn = link.conn
    if max_attempts is not None and attempts > max_attempts:
        error = (
            f"Slice {slice!r} was started {attempts - 1} times and its worker died each "
            f"time (attempt cap {max_attempts}); giving up. Look for a record or file that "
            "crashes the process (out of memory?), fix it, and run again."
        )
        _end_slice(conn, run_id, slice, "failed", SliceStats(), error)
        return SliceOutcome(slice, "abandoned", error)
    state = checkpoints.latest(conn, pipeline.name, slice)
    stats = SliceStats()
    try:
        stats = run_slice(pipeline, link, ctx, slice=slice, state=state, progress=progress)
    except CheckpointConflictError as exc:
        return SliceOutcome(slice, "duplicate", str(exc))
    except BaseException as exc:
        try:
            _end_slice(
                link.conn, run_id, slice, "failed", stats, redact_text(str(exc) or repr(exc))
            )
        except psycopg.Error:
            pass
        raise
    _end_slice(link.conn, run_id, slice, "succeeded", stats, None)
    return SliceOutcome(slice, "succeeded")


def _end_slice(
    conn: Connection, run_id: int, slice: str, status: str, stats: SliceStats, error: str | None
) -> None:
    slices.end(
        conn,
        run_id,
        slice,
        status=SliceStatus(status),
        counts={
            "processed": stats.processed,
            "valid": stats.valid,
            "rejected": stats.rejected,
            "loaded": stats.loaded,
        },
        timings=stats.timings,
        metrics={
            "written": stats.written,
            "deduplicated": stats.deduplicated,
            "bytes_read": stats.bytes_read,
            "batches": stats.batches,
        },
        error=error,
    )


run_totals = slices.totals
