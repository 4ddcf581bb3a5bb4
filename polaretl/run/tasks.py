"""The tasks of the Celery executor: a slice of a run, the run's finalize step, and the
start of a run (Celery Beat's entry point). `polaretl.run.celery_app.send` sends them.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from polaretl import db
from polaretl.core import LoadContext
from polaretl.db import Link
from polaretl.definition import Definition
from polaretl.errors import PolaretlError, RunLockedError
from polaretl.record import runs, slices
from polaretl.record.runs import RunStatus
from polaretl.record.slices import SliceStatus
from polaretl.redact import redact_text
from polaretl.run.celery_app import app, project_root
from polaretl.run.dispatch import submit
from polaretl.run.lifecycle import Job, conclude, load_context, prepare
from polaretl.run.progress import RedisProgress
from polaretl.run.slice import execute_slice
from polaretl.settings import current
from polaretl.workspace import get_pipeline

log = logging.getLogger("polaretl.celery")


@cache
def _pipeline(name: str) -> Definition:
    return get_pipeline(project_root(), name)


#: The stages' context of the latest run of each pipeline in this worker process: slices
#: of one run that this process executes share it (keys counted under on_duplicate="last").
_contexts: dict[str, LoadContext] = {}


def _context(pipe: Definition, run_id: int, url: str) -> LoadContext:
    ctx = _contexts.get(pipe.name)
    if ctx is None or ctx.run_id != run_id:
        ctx = _contexts[pipe.name] = load_context(pipe, run_id, url)
    return ctx


def _database_url() -> str:
    return db.resolve_url(None, project_root())


@app.task(name="polaretl.slice", bind=True)
def slice_task(self: Any, pipeline: str, run_id: int, slice: str) -> dict[str, Any]:
    """Run one slice of a run; never raises, so the chord always reaches finalize.

    One copy of a slice runs at a time: a task delivered again while its first copy still
    runs (past the visibility timeout, or a duplicated message) waits for that copy on a
    session lock, then finds the slice done. Without it the second copy stopped at its
    first checkpoint conflict and its chain went on, so the run could be finalized (as
    failed, "did not finish") while the first copy was still loading. The lock goes with
    the session, so a copy whose worker died frees it at once; and only copies that got
    it count as attempts, so a slow slice delivered again is not taken for one that kills
    its worker.
    """
    try:
        pipe = _pipeline(pipeline)
        url = _database_url()
        link = Link(url)
        try:
            slices.hold(link.conn, pipe.name, slice)
            if slices.succeeded(link.conn, run_id, slice):
                # another copy of this task finished the slice while this one waited
                return {"slice": slice, "status": SliceStatus.SUCCEEDED, "error": None}
            ctx = _context(pipe, run_id, url)
            prepare(link.conn, pipe, ctx)
            progress = RedisProgress(app.conf.broker_url, run_id, slice)
            outcome = execute_slice(
                pipe,
                link,
                ctx,
                pipe.extractor,
                Job(pipe, executor="celery").ledger(),
                slice=slice,
                progress=progress,
                max_attempts=current().max_attempts,
            )
            runs.heartbeat(link.conn, run_id)
        finally:
            link.close()  # and the lock with the session
        return outcome.to_dict()
    except Exception as exc:  # recorded in polaretl.slices by execute_slice, reported here
        log.exception("slice %s of run %s failed", slice, run_id)
        return {"slice": slice, "status": SliceStatus.FAILED, "error": redact_text(str(exc))}


@app.task(name="polaretl.finalize")
def finalize_task(_results: Any, pipeline: str, run_id: int) -> dict[str, Any]:
    """Total the slices, mark the run succeeded or failed, evaluate alerts."""
    pipe = _pipeline(pipeline)
    with db.connect(_database_url(), autocommit=True) as conn:
        status = conclude(conn, Job(pipe, executor="celery"), run_id)
    return {"run_id": run_id, "status": status}


@app.task(name="polaretl.start")
def start_task(pipeline: str, full_refresh: bool = False) -> dict[str, Any]:
    """Start a run from a worker (Celery Beat's entry point); a run already in progress
    makes this one ``skipped``, recorded with the reason."""
    try:
        run_id = submit(pipeline, project=project_root(), full_refresh=full_refresh)
    except RunLockedError as exc:
        with db.connect(_database_url(), autocommit=True) as conn:
            runs.skipped(conn, pipeline, executor="celery", error=str(exc))
        return {"status": RunStatus.SKIPPED, "error": str(exc)}
    except PolaretlError as exc:
        return {"status": RunStatus.FAILED, "error": redact_text(str(exc))}
    return {"status": "submitted", "run_id": run_id}
