"""The batch commit: one batch of a run in ONE transaction, the same for every executor
and for replay.

    [first batch of a slice: the ledger observes the source's shape]
    -> loader.load (the rows) -> absorb (keys the loader refused join the quarantine)
    -> ledger.record (what the run keeps of the batch) -> runs.add_batch (the counts)

A crash anywhere leaves the whole batch or none of it. A `Transient` error (a dropped
connection, a restarted server) rolls the batch back; `commit` reconnects and tries the
same batch again, up to the pipeline's ``retries``.

What a run keeps of a batch is its `Ledger`'s business: a run of the pipeline's source
(`SourceLedger`) writes the batch's quarantined records and the slice's checkpoint (the
position a later run resumes after, and a compare-and-set against a second copy of the
task committing it twice); a replay (`polaretl.run.replay`) marks the quarantine records
it loaded ``replayed`` and gives those still invalid their new errors.

Keys repeated across the batches of a run (``on_duplicate``): the loader counts them
(``on_duplicate="last"``, `polaretl.load.repeats`) or refuses every copy after the first
(``"quarantine"``, claimed in `polaretl.record.run_keys`). Either way the counts go to the
run's metrics (``run_duplicates``: rows whose key an earlier batch of the run had loaded;
``duplicates_quarantined``: rows quarantined by the policy), and refused rows join the
batch's quarantine (`absorb`), with their raw record.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from polaretl.core import (
    REJECT_SCHEMA,
    SOURCE_COLUMN,
    Chunk,
    Connection,
    LoadContext,
    LoadResult,
    Split,
)
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import TransientLoadError, is_transient
from polaretl.record import checkpoints, quarantine, runs, schema_versions

CHECK = "run_uniqueness"


@dataclass
class Batch:
    """One chunk made ready in the background: split, transformed, its rejects gathered."""

    chunk: Chunk
    split: Split
    frame: pl.DataFrame  # the valid rows, transformed: what the loader gets
    quarantined: pl.DataFrame  # unparseable and invalid records (REJECT_SCHEMA)


@dataclass
class SliceStats:
    """What one slice did; summed into the run (``polaretl.slices``)."""

    processed: int = 0
    valid: int = 0
    rejected: int = 0
    loaded: int = 0
    written: int = 0
    deduplicated: int = 0
    batches: int = 0
    bytes_read: int = 0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    #: what the slice's ledger counted (a replay: records replayed, still pending)
    counted: Counter[str] = field(default_factory=Counter)

    def metrics(self) -> dict[str, int]:
        return {
            "written": self.written,
            "deduplicated": self.deduplicated,
            "bytes_read": self.bytes_read,
            "batches": self.batches,
            **self.counted,
        }


class Ledger(ABC):
    """What a run keeps of each batch, in the batch's transaction, besides its rows."""

    @abstractmethod
    def position(self, conn: Connection, slice: str) -> checkpoints.Position:
        """Where the slice starts: after its last committed batch, or at the beginning."""

    def observe(self, conn: Connection, ctx: LoadContext, slice: str, chunk: Chunk) -> None:  # noqa: B027
        """Called with the first chunk of the slice, before it loads (default: nothing)."""

    @abstractmethod
    def record(
        self,
        conn: Connection,
        ctx: LoadContext,
        slice: str,
        seq: int,
        batch: Batch,
        rejected: pl.DataFrame,
        result: LoadResult,
    ) -> dict[str, int]:
        """Keep batch `seq` of the slice: `rejected` is its quarantine (refused repeats
        included), `result` what the loader did. Returns counts for the run's metrics,
        added once the batch has committed."""


class SourceLedger(Ledger):
    """A run of the pipeline's source: quarantined records and the slice's checkpoint."""

    def __init__(self, pipeline: Definition) -> None:
        self.pipeline = pipeline

    def position(self, conn: Connection, slice: str) -> checkpoints.Position:
        return checkpoints.latest(conn, self.pipeline.name, slice)

    def observe(self, conn: Connection, ctx: LoadContext, slice: str, chunk: Chunk) -> None:
        # Data-quality hook: a change in the source's shape (columns, inferred types) is
        # recorded in polaretl.schema_versions, committed with the batch that showed it.
        validator = self.pipeline.validator
        schema_versions.observe(
            conn,
            self.pipeline.name,
            ctx.run_id,
            chunk,
            slice,
            required=getattr(validator, "required", getattr(validator, "columns", ())),
            named=getattr(validator, "columns", ()),
        )

    def record(
        self,
        conn: Connection,
        ctx: LoadContext,
        slice: str,
        seq: int,
        batch: Batch,
        rejected: pl.DataFrame,
        result: LoadResult,
    ) -> dict[str, int]:
        quarantine.write(conn, rejected, run_id=ctx.run_id, pipeline=ctx.pipeline, slice=slice)
        checkpoints.commit(
            conn,
            ctx.pipeline,
            slice,
            seq=seq,
            run_id=ctx.run_id,
            state=batch.chunk.position,
            received=batch.chunk.received,
            loaded=result.loaded,
            rejected=rejected.height,
        )
        return {}


def commit(
    pipeline: Definition,
    link: Link,
    ctx: LoadContext,
    ledger: Ledger,
    slice: str,
    seq: int,
    batch: Batch,
    stats: SliceStats,
) -> None:
    """Commit batch `seq` of the slice; on a `Transient` error (a dropped connection)
    reconnect and commit the same batch again."""
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
                _write(pipeline, link.conn, ctx, ledger, slice, seq, batch, stats)
            except psycopg.OperationalError as exc:
                raise TransientLoadError(
                    f"The database connection dropped while committing batch {seq} of "
                    f"{slice!r}; the batch was rolled back and is retried.",
                ) from exc


def _write(
    pipeline: Definition,
    conn: Connection,
    ctx: LoadContext,
    ledger: Ledger,
    slice: str,
    seq: int,
    batch: Batch,
    stats: SliceStats,
) -> None:
    t0 = time.perf_counter()
    with conn.transaction():
        if stats.batches == 0:
            ledger.observe(conn, ctx, slice, batch.chunk)
        result = pipeline.loader.load(conn, batch.frame, ctx)
        t1 = time.perf_counter()
        # Data-quality hook: rows the loader refused as repeats of keys this run already
        # loaded (on_duplicate="quarantine") join the batch's quarantine (`moved` of them,
        # counted as rejected, not valid); repeats are added to the run's metrics.
        bad, moved = absorb(conn, ctx, batch.chunk, batch.quarantined, result)
        counted = ledger.record(conn, ctx, slice, seq, batch, bad, result)
        runs.add_batch(
            conn,
            ctx.run_id,
            processed=batch.chunk.received,
            valid=batch.split.valid.height - moved,
            rejected=bad.height,
            loaded=result.loaded,
        )
    t2 = time.perf_counter()
    stats.processed += batch.chunk.received
    stats.valid += batch.split.valid.height - moved
    stats.rejected += bad.height
    stats.loaded += result.loaded
    stats.written += result.written
    stats.deduplicated += result.deduplicated
    stats.batches += 1
    stats.bytes_read += batch.chunk.bytes_read
    stats.counted.update(counted)
    stats.timings["load"] += t1 - t0
    stats.timings["record"] += t2 - t1


def absorb(
    conn: Connection, ctx: LoadContext, chunk: Chunk, quarantined: pl.DataFrame, result: LoadResult
) -> tuple[pl.DataFrame, int]:
    """The batch's quarantine with the rows the loader refused added, and how many.

    Called in the batch's transaction right after the load; also adds the batch's
    repeat counts to the run's metrics.
    """
    refused = result.refused
    moved = refused.height if refused is not None else 0
    repeats = result.repeats
    if repeats or moved:
        runs.add_metrics(conn, ctx.run_id, run_duplicates=repeats, duplicates_quarantined=moved)
    if refused is None or moved == 0:
        return quarantined, 0
    key = list(result.key)
    records = refused_records(chunk, refused, key)
    return (pl.concat([quarantined, records]) if quarantined.height else records), moved


def refused_records(chunk: Chunk, refused: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Quarantine rows (``source``, ``raw``, ``errors``) for refused repeats.

    The raw record is the chunk's row with the same source label when that label is
    unique in the chunk (file and line: CSV, XML, ...); otherwise the row as it would
    have been loaded.

    Example:
        >>> chunk = Chunk(pl.DataFrame({"id": ["7"], "x": ["a"]}), "f.csv", {},
        ...               sources=pl.Series(["f.csv:2"]))
        >>> rows = pl.DataFrame({"id": [7], "x": ["a"], "_polaretl_source": ["f.csv:2"]})
        >>> refused_records(chunk, rows, ["id"]).row(0)[1:]  # doctest: +NORMALIZE_WHITESPACE
        ('{"id":"7","x":"a"}', '[{"column":"id","check":"run_uniqueness","value":"7",\
"message":"id 7 was already loaded earlier in this run"}]')
    """
    labels = chunk.source_labels()
    raw_columns = chunk.frame.columns
    unique_labels = (
        labels.to_frame().group_by(SOURCE_COLUMN).len().filter(pl.col("len") == 1).drop("len")
    )
    originals = (
        chunk.frame.with_columns(labels)
        .join(unique_labels, on=SOURCE_COLUMN, how="semi")
        .select(
            SOURCE_COLUMN,
            (pl.struct(raw_columns).struct.json_encode() if raw_columns else pl.lit("{}")).alias(
                "_raw"
            ),
        )
    )
    data = [c for c in refused.columns if c != SOURCE_COLUMN]
    if SOURCE_COLUMN not in refused.columns:
        refused = refused.with_columns(pl.lit(None, pl.String).alias(SOURCE_COLUMN))
    value: Any = (
        pl.col(key[0]).cast(pl.String)
        if len(key) == 1
        else pl.concat_str(
            pl.lit("("),
            pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=", "),
            pl.lit(")"),
        )
    )
    name = key[0] if len(key) == 1 else f"({', '.join(key)})"
    error = pl.struct(
        column=pl.lit(name),
        check=pl.lit(CHECK),
        value=value,
        message=pl.concat_str(
            pl.lit(f"{name} "), value, pl.lit(" was already loaded earlier in this run")
        ),
    )
    return (
        refused.join(originals, on=SOURCE_COLUMN, how="left", maintain_order="left")
        .select(
            pl.col(SOURCE_COLUMN).fill_null(chunk.source).alias("source"),
            pl.coalesce("_raw", pl.struct(data).struct.json_encode()).alias("raw"),
            pl.concat_str(pl.lit("["), error.struct.json_encode(), pl.lit("]")).alias("errors"),
        )
        .cast(REJECT_SCHEMA)  # type: ignore[arg-type]
    )
