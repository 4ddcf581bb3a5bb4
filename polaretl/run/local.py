"""The local executor: one run in this process, slice after slice.

    advisory lock -> begin_run (stale runs failed, run row `running`)
        -> prepare target -> [full refresh: forget checkpoints, empty a replace target]
        -> execute_slice for each slice -> finish (run row succeeded | failed, alerts)

The advisory lock is held on a control connection for the whole run (that is how the
next starter knows a local run is alive); batches go over a second connection. Both
survive a restarted server: batches reconnect and are retried, and the control
connection reconnects and re-takes the lock before the run is recorded as finished —
unless another run took the pipeline over meanwhile, which fails this one.
"""

from __future__ import annotations

import time

import psycopg

from polaretl.core import Connection
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import PolaretlError
from polaretl.record.runs import RunResult
from polaretl.record.schema import ensure_schema
from polaretl.run.begin import (
    begin_run,
    load_context,
    prepare_stages,
    record_slices,
    refused,
    release_advisory_lock,
    start_fresh_if_needed,
    try_advisory_lock,
)
from polaretl.run.finish import finish, record_failure
from polaretl.run.slice import Progress, execute_slice, run_totals


def execute(
    pipeline: Definition,
    url: str,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run `pipeline` to the end in this process; raise `RunFailedError` if it fails."""
    started = time.perf_counter()

    def relock(conn: Connection) -> None:
        if not try_advisory_lock(conn, pipeline.name):
            raise refused(pipeline.name)

    control = Link(url, on_connect=relock)
    try:
        ensure_schema(control.conn)
        relock(control.conn)
        try:
            run = begin_run(control.conn, pipeline, executor="local", full_refresh=full_refresh)
            return _run(
                pipeline, control, url, run.run_id, run.resuming, full_refresh, progress, started
            )
        finally:
            if not control.conn.closed:
                release_advisory_lock(control.conn, pipeline.name)
    finally:
        control.close()


def _run(
    pipeline: Definition,
    control: Link,
    url: str,
    run_id: int,
    resuming: bool,
    full_refresh: bool,
    progress: Progress | None,
    started: float,
) -> RunResult:
    data: Link | None = None
    try:
        data = Link(url)
        ctx = load_context(pipeline, run_id, url)
        prepare_stages(data.conn, pipeline, ctx)
        start_fresh_if_needed(
            data.conn, pipeline, ctx, full_refresh=full_refresh, resuming=resuming
        )
        slices = pipeline.extractor.slices()
        record_slices(data.conn, run_id, slices)
        for name in slices:
            execute_slice(pipeline, data, ctx, slice=name, progress=progress)
        conn = control.ensure()
        timings, metrics = run_totals(conn, run_id)
        timings["total"] = time.perf_counter() - started
        finish(conn, pipeline, run_id, status="succeeded", timings=timings, metrics=metrics)
    except BaseException as exc:
        try:
            conn = control.ensure()
            timings, metrics = run_totals(conn, run_id)
        except (psycopg.Error, PolaretlError):
            conn, timings, metrics = control.conn, {}, {}
        timings["total"] = time.perf_counter() - started
        raise record_failure(conn, pipeline, run_id, exc, timings=timings, metrics=metrics) from exc
    finally:
        if data is not None:
            data.close()
    return RunResult.fetch(control.ensure(), run_id)
