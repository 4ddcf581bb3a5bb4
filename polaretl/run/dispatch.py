"""On-demand runs on the Celery workers: `submit` returns a run id at once, `wait`
follows it to the end."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from polaretl import db
from polaretl.errors import RecordError, WaitTimeoutError
from polaretl.record import runs, slices
from polaretl.record.runs import RunResult, RunStatus
from polaretl.record.schema import ensure_schema
from polaretl.run import broker, celery_app
from polaretl.run.lifecycle import Job, conclude, fail, load_context, prepare
from polaretl.workspace import get_pipeline


def submit(
    name: str,
    *,
    project: str | Path = ".",
    database_url: str | None = None,
    redis_url: str | None = None,
    full_refresh: bool = False,
) -> int:
    """Start a run of pipeline `name` on the Celery workers; return its run id at once.

    The run row, the target table and the slice list are made here, before any task is
    sent, so a refused run (another one in progress) or a configuration error is an
    exception now, not a failed task later.

    Raises:
        RunLockedError: another run of the pipeline is in progress.
    """
    root = Path(project).resolve()
    pipe = get_pipeline(root, name)
    url = db.resolve_url(database_url, root)
    app = celery_app.ensure_configured(root, redis_url)
    broker.check(app.conf.broker_url)
    job = Job(pipe, executor="celery", full_refresh=full_refresh)
    with db.connect(url, autocommit=True) as control:
        ensure_schema(control)
        if not runs.try_lock(control, pipe.name):
            raise runs.refused(pipe.name)
        try:
            begun = job.begin(control)
        finally:
            runs.unlock(control, pipe.name)
        run_id = begun.run_id
        try:
            ctx = load_context(pipe, run_id, url)
            prepare(control, pipe, ctx)
            source = job.start(control, ctx, resuming=begun.resuming)
            with contextlib.chdir(root):  # connectors' paths are relative to the workspace
                names = source.slices()
            slices.add(control, run_id, names)
            if names:
                celery_app.send(pipe, run_id, names)
            else:
                conclude(control, job, run_id)
        except Exception as exc:
            fail(control, job, run_id, exc, timings={})
            raise
    return run_id


def wait(
    run_id: int,
    *,
    timeout: float | None = None,
    poll: float = 0.5,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> RunResult:
    """Block until run `run_id` is no longer running; return its result.

    Raises:
        WaitTimeoutError: `timeout` seconds passed first (a `TimeoutError` too).
    """
    url = db.resolve_url(database_url, workspace)
    deadline = None if timeout is None else time.monotonic() + timeout
    with db.connect(url, autocommit=True) as conn:
        while True:
            try:
                result = RunResult.fetch(conn, run_id)
            except RecordError:
                raise
            if result.status != RunStatus.RUNNING:
                return result
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(
                    f"Run {run_id} is still running after {timeout} s; wait again, or follow "
                    f"it with `polaretl show {run_id}`.",
                    run_id=run_id,
                )
            time.sleep(poll)
