"""The local executor: one run in this process, slice after slice.

    lock -> fail stale runs -> run row (running) -> prepare target
         -> [full refresh: forget checkpoints, empty a replace target]
         -> run_slice for each slice -> run row (succeeded | failed)

The pipeline's PostgreSQL advisory lock, held on a control connection for the whole
run, refuses a second concurrent run of the same pipeline (nothing is recorded for
the refused one). Batches go over a second connection, so a reconnect after a
dropped connection never loses the lock... unless the server itself went away, in
which case the batch fails and the run with it.
"""

from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING, Any

import psycopg

from polaretl import db
from polaretl.errors import PolaretlError, RunFailedError, RunLockedError
from polaretl.load.base import Connection, LoadContext
from polaretl.record import checkpoints, runs
from polaretl.record.result import RunResult
from polaretl.record.schema import ensure_schema
from polaretl.redact import redact_text
from polaretl.run.finish import finish
from polaretl.run.slice import Progress, SliceStats, run_slice

if TYPE_CHECKING:
    from polaretl.pipeline import Pipeline


def acquire_lock(conn: Connection, pipeline: str) -> None:
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"polaretl:run:{pipeline}",)
    ).fetchone()
    if not row or not row[0]:
        raise RunLockedError(
            f"Pipeline {pipeline!r} is already running (another process holds its lock). "
            "Wait for it to finish, or see `polaretl runs " + pipeline + "`.",
            pipeline=pipeline,
        )


def release_lock(conn: Connection, pipeline: str) -> None:
    conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"polaretl:run:{pipeline}",)
    )


def execute(
    pipeline: Pipeline,
    url: str,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run `pipeline` to the end in this process; raise `RunFailedError` if it fails."""
    started = time.perf_counter()
    control = db.connect(url, autocommit=True)
    try:
        ensure_schema(control)
        acquire_lock(control, pipeline.name)
        try:
            return _locked_run(pipeline, control, url, full_refresh, progress, started)
        finally:
            if not control.closed:
                try:
                    release_lock(control, pipeline.name)
                except psycopg.Error:
                    pass  # the lock goes with the session anyway
    finally:
        control.close()


def _locked_run(
    pipeline: Pipeline,
    control: Connection,
    url: str,
    full_refresh: bool,
    progress: Progress | None,
    started: float,
) -> RunResult:
    runs.fail_stale_runs(control, pipeline.name)
    resuming = not full_refresh and runs.last_failed_run(control, pipeline.name) is not None
    run_id = runs.start_run(control, pipeline.name, executor="local", full_refresh=full_refresh)
    total = SliceStats()
    data: Connection | None = None
    try:
        data = db.connect(url, autocommit=True)
        ctx = LoadContext(run_id=run_id, pipeline=pipeline.name, nullable=pipeline.nullable)
        pipeline.loader.prepare(data, pipeline.output_schema(), ctx)
        pipeline.validator.begin_run(data, ctx)
        if full_refresh or (not resuming and pipeline.replaces()):
            with data.transaction():
                checkpoints.forget(data, pipeline.name)
                pipeline.loader.start_fresh(data, ctx)
        slices = pipeline.extractor.slices()
        positions = checkpoints.latest_all(data, pipeline.name)
        for name in slices:
            state = positions.get(name, checkpoints.Position(0, None, None))
            total.add(
                run_slice(
                    pipeline, data, url, run_id=run_id, slice=name, state=state, progress=progress
                )
            )
        total.timings["total"] = time.perf_counter() - started
        finish(
            control,
            pipeline,
            run_id,
            status="succeeded",
            timings=total.timings,
            metrics=_metrics(total, len(slices)),
        )
    except BaseException as exc:
        total.timings["total"] = time.perf_counter() - started
        message = redact_text(_describe(exc))
        try:
            finish(
                control,
                pipeline,
                run_id,
                status="failed",
                timings=total.timings,
                metrics=_metrics(total, None),
                error=message,
                traceback=redact_text("".join(traceback.format_exception(exc, limit=-8))),
            )
        except psycopg.Error:
            pass  # the record is unreachable too; the next run marks this one failed
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise RunFailedError(
            f"Run {run_id} of {pipeline.name} failed: {message}",
            run_id=run_id,
            pipeline=pipeline.name,
        ) from exc
    finally:
        if data is not None:
            data.close()
    result = RunResult.fetch(control, run_id)
    return result


def _metrics(stats: SliceStats, slices: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "written": stats.written,
        "deduplicated": stats.deduplicated,
        "bytes_read": stats.bytes_read,
    }
    if slices is not None:
        out["slices"] = slices
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PolaretlError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
