"""Replay: corrected quarantined records through the pipeline again, as a run.

    pipeline's advisory lock, no live run of the pipeline -> run row NAME:replay
        -> prepare target, references -> store the corrections
        -> per chunk, one transaction: contract -> transforms -> loader
           -> loaded records `replayed` (replay_run_id), still invalid ones keep
              `pending` with their new errors -> run counters
        -> run row succeeded | failed

Why a run of its own, named ``NAME:replay`` (``:`` cannot appear in a pipeline name, so it
never collides): it is recorded in ``polaretl.runs`` like any run (counts, timings,
error, ``polaretl show``), while the pipeline's own history stays about its source:
alert rules that compare a run with the previous ones (``VolumeDrop``, ``FailureRate``)
are not fed a run of three records, and a failed replay does not make the next
scheduled run think it must resume. ``polaretl runs NAME:replay`` lists replays.

It holds the pipeline's run lock: the pipeline's advisory lock for its whole life (a
local run or a Celery submit of the pipeline is refused meanwhile) and it refuses to
start while a Celery run of the pipeline is live; so a replay never interleaves with a
run's batches.

Loaded rows carry ``_polaretl_source = 'quarantine:<id>'``: lineage leads from the row
back to its quarantine record, and from there to the run and position it came from.
Replay is idempotent: replayed records are no longer pending; a record still invalid
gets the same errors again (not rewritten when unchanged).
"""

from __future__ import annotations

import time
from collections import defaultdict

import polars as pl

from polaretl import db
from polaretl.core import SOURCE_COLUMN, Chunk, Connection, LoadContext
from polaretl.definition import Definition
from polaretl.quality.corrections import ID, replay_input
from polaretl.record import quarantine, runs
from polaretl.record.runs import RunResult, RunStatus
from polaretl.record.schema import ensure_schema
from polaretl.run import batch
from polaretl.run.begin import (
    load_context,
    prepare_stages,
    refused,
    release_advisory_lock,
    try_advisory_lock,
)
from polaretl.run.finish import record_failure
from polaretl.settings import current
from polaretl.transform import apply

SUFFIX = ":replay"
LABEL = "quarantine:"


def replay_name(pipeline: str) -> str:
    """The name replay runs are recorded under.

    Example:
        >>> replay_name("orders")
        'orders:replay'
    """
    return pipeline + SUFFIX


def replay(
    pipeline: Definition,
    url: str,
    *,
    run_id: int | None = None,
    ids: list[int] | None = None,
    corrected: pl.DataFrame | None = None,
) -> RunResult:
    """Replay the pipeline's pending records (of run `run_id`, or `ids`), corrected by
    `corrected` (an edited export) when given; return the replay run's result.

    Raises:
        RunLockedError: a run of the pipeline is in progress.
        RunFailedError: the replay failed (recorded, with its error); nothing of the
            failing chunk was committed.
    """
    control = db.connect(url, autocommit=True)
    try:
        ensure_schema(control)
        if not try_advisory_lock(control, pipeline.name):
            raise refused(pipeline.name)
        try:
            _refuse_if_live(control, pipeline.name)
            name = replay_name(pipeline.name)
            # a replay holds the advisory lock for its whole life: a `running` one is dead
            runs.fail_stale(control, name, stale_after=current().stale_after)
            rid = runs.start(control, name, executor="replay", full_refresh=False)
            return _replay(pipeline, control, url, rid, run_id, ids, corrected)
        finally:
            if not control.closed:
                release_advisory_lock(control, pipeline.name)
    finally:
        control.close()


def _refuse_if_live(control: Connection, pipeline: str) -> None:
    """A Celery run holds the pipeline through its `running` row, not the advisory lock
    (a local one holds the advisory lock while it lives: a `running` local row is dead)."""
    if runs.live_on_workers(control, pipeline, stale_after=current().stale_after):
        raise refused(pipeline)


def _replay(
    pipeline: Definition,
    control: Connection,
    url: str,
    rid: int,
    origin_run: int | None,
    ids: list[int] | None,
    corrected: pl.DataFrame | None,
) -> RunResult:
    started = time.perf_counter()
    timings: dict[str, float] = defaultdict(float)
    metrics = {"replayed": 0, "still_pending": 0, "needs_correction": 0, "skipped": 0}
    data: Connection | None = None
    try:
        data = db.connect(url, autocommit=True)
        ctx = load_context(pipeline, rid, url)
        prepare_stages(data, pipeline, ctx)
        todo = replay_input(data, pipeline.name, run_id=origin_run, ids=ids, corrected=corrected)
        metrics["needs_correction"], metrics["skipped"] = todo.needs_correction, todo.skipped
        with data.transaction():
            quarantine.correct(data, todo.corrections)
        for offset in range(0, todo.records.height, pipeline.chunk_size):
            part = todo.records.slice(offset, pipeline.chunk_size)
            done, pending = _replay_chunk(pipeline, data, ctx, part, timings)
            metrics["replayed"] += done
            metrics["still_pending"] += pending
        timings["total"] = time.perf_counter() - started
        runs.finish(control, rid, status=RunStatus.SUCCEEDED, timings=timings, metrics=metrics)
    except BaseException as exc:
        timings["total"] = time.perf_counter() - started
        raise record_failure(
            control,
            pipeline,
            rid,
            exc,
            timings=timings,
            metrics=metrics,
            label="Replay run",
            hooks=False,  # replays are not judged by the pipeline's alert rules
        ) from exc
    finally:
        if data is not None:
            data.close()
    return RunResult.fetch(control, rid)


def _replay_chunk(
    pipeline: Definition,
    conn: Connection,
    ctx: LoadContext,
    part: pl.DataFrame,
    timings: dict[str, float],
) -> tuple[int, int]:
    """One chunk of records through contract, transforms and loader, in one transaction;
    return (replayed, still pending)."""
    t0 = time.perf_counter()
    chunk = Chunk(
        part.drop(ID),
        source="quarantine",
        position={},
        sources=(LABEL + part[ID].cast(pl.String)).alias(SOURCE_COLUMN),
        null_values=list(getattr(pipeline.extractor, "null_values", ("",))),
    )
    split = pipeline.validator.split(chunk)
    t1 = time.perf_counter()
    frame = apply(pipeline.transforms, split.valid)
    t2 = time.perf_counter()
    with conn.transaction():
        result = pipeline.loader.load(conn, frame, ctx)
        bad, moved = batch.absorb(conn, ctx, chunk, split.quarantined, result)
        failed = bad.select(_id(pl.col("source")).alias("id"), "errors")
        valid = split.valid.select(_id(pl.col(SOURCE_COLUMN)).alias("id"))
        loaded = valid.join(failed, on="id", how="anti")["id"].to_list()
        quarantine.mark_replayed(conn, loaded, ctx.run_id)
        quarantine.still_invalid(conn, failed)
        runs.add_batch(
            conn,
            ctx.run_id,
            processed=part.height,
            valid=split.valid.height - moved,
            rejected=bad.height,
            loaded=result.loaded,
        )
    t3 = time.perf_counter()
    timings["validate"] += t1 - t0
    timings["transform"] += t2 - t1
    timings["load"] += t3 - t2
    return len(loaded), failed.height


def _id(label: pl.Expr) -> pl.Expr:
    return label.str.strip_prefix(LABEL).cast(pl.Int64)
