"""The local executor: one run in this process, slice after slice (replay runs so too).

    advisory lock -> job.begin (stale runs failed, run row `running`)
        -> prepare the stages -> job.start (a fresh start when due; the source)
        -> execute_slice for each slice -> conclude (run row succeeded | failed, alerts)

The advisory lock is held on a control connection for the whole run (that is how the
next starter knows a run of this process is alive); batches go over a second
connection. Both survive a restarted server: batches reconnect and are retried, and the
control connection reconnects and re-takes the lock before the run is recorded as
finished — unless another run took the pipeline over meanwhile, which fails this one.
"""

from __future__ import annotations

import time

import psycopg

from polaretl.core import Connection
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import PolaretlError
from polaretl.record import runs, slices
from polaretl.record.runs import RunResult
from polaretl.record.schema import ensure_schema
from polaretl.run.lifecycle import Job, conclude, fail, load_context, prepare
from polaretl.run.slice import Progress, execute_slice


def execute(
    pipeline: Definition,
    url: str,
    *,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run `pipeline` to the end in this process; raise `RunFailedError` if it fails."""
    return run_here(Job(pipeline, executor="local", full_refresh=full_refresh), url, progress)


def run_here(job: Job, url: str, progress: Progress | None = None) -> RunResult:
    """Execute `job` in this process, holding the pipeline's lock throughout."""
    started = time.perf_counter()
    name = job.pipeline.name

    def relock(conn: Connection) -> None:
        if not runs.try_lock(conn, name):
            raise runs.refused(name)

    control = Link(url, on_connect=relock)
    try:
        ensure_schema(control.conn)
        relock(control.conn)
        try:
            begun = job.begin(control.conn)
            return _run(job, control, url, begun.run_id, begun.resuming, progress, started)
        finally:
            if not control.conn.closed:
                runs.unlock(control.conn, name)
    finally:
        control.close()


def _run(
    job: Job,
    control: Link,
    url: str,
    run_id: int,
    resuming: bool,
    progress: Progress | None,
    started: float,
) -> RunResult:
    pipeline = job.pipeline
    data: Link | None = None
    try:
        data = Link(url)
        ctx = load_context(pipeline, run_id, url)
        prepare(data.conn, pipeline, ctx)
        source = job.start(data.conn, ctx, resuming=resuming)
        names = source.slices()
        slices.add(data.conn, run_id, names)
        ledger = job.ledger()
        for name in names:
            execute_slice(pipeline, data, ctx, source, ledger, slice=name, progress=progress)
        conclude(control.ensure(), job, run_id, elapsed=time.perf_counter() - started)
    except BaseException as exc:
        try:
            conn = control.ensure()
            timings, metrics = slices.totals(conn, run_id)
        except (psycopg.Error, PolaretlError):
            conn, timings, metrics = control.conn, {}, {}
        timings["total"] = time.perf_counter() - started
        raise fail(
            conn, job, run_id, exc, timings=timings, metrics={**job.metrics(), **metrics}
        ) from exc
    finally:
        if data is not None:
            data.close()
    return RunResult.fetch(control.ensure(), run_id)
