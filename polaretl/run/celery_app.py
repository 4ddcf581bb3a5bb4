"""The Celery executor: a run is N slice tasks and a finalize step (a chord).

Delivery is at least once; loads are exactly once. Tasks are JSON only, acknowledged
late (a task whose worker dies is delivered again), prefetched one at a time, and
carry no secrets: pipeline name, run id and slice. Workers find the database and the
workspace in their own settings (``POLARETL_DATABASE_URL``, ``POLARETL_PROJECT``).
A redelivered or duplicated slice resumes from the slice's last checkpoint, and the
checkpoint's compare-and-set stops a second copy from committing a batch twice. A
slice whose worker keeps dying is given up after `max_attempts` starts; the run then
ends failed instead of looping.

Per-pipeline concurrency: the slices are dealt into `pipeline.concurrency` lanes; a lane
is a chain (one slice after another), the lanes run in parallel, and the finalize
task waits for all of them.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import kombu.pools
from celery import Celery, chain, chord
from celery.backends.redis import RedisBackend

from polaretl import db
from polaretl.db import Link
from polaretl.errors import PolaretlError
from polaretl.load.base import LoadContext
from polaretl.pipeline import Pipeline
from polaretl.record import runs
from polaretl.redact import redact_text
from polaretl.run.begin import prepare_stages
from polaretl.run.broker import resolve_url as resolve_redis
from polaretl.run.finish import finish
from polaretl.run.progress import RedisProgress
from polaretl.run.slice import execute_slice, run_totals
from polaretl.settings import current

log = logging.getLogger("polaretl.celery")


def default_queue() -> str:
    """The queue of pipelines that name none: ``POLARETL_QUEUE``, else ``polaretl`` (one
    Redis can then serve several independent setups, e.g. concurrent test sessions)."""
    return current().queue


app = Celery("polaretl")


class ResultBackend(RedisBackend):
    """Celery's Redis result backend, without following results in the sending process.

    Nothing in polaretl waits on a Celery result (the chord totals its slices in Redis,
    `wait` reads PostgreSQL), yet the stock backend subscribes the process that sends
    tasks (CLI, notebook, app, beat) to every result's Redis channel, and unsubscribes
    when the result object is garbage collected. After a Redis restart that unsubscribe
    blocks whatever the process is doing for 20 s of reconnect attempts, then leaves the
    result consumer broken ("The Celery application must be restarted"). Results are
    still stored and chords still complete: only the subscriptions are left out.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None

    def add_pending_result(
        self, result: Any, weak: bool = False, start_drainer: bool = True
    ) -> Any:
        return result

    def add_pending_results(self, results: Any, weak: bool = False) -> Any:
        return results

    def remove_pending_result(self, result: Any) -> Any:
        return result


def _backend_url(redis_url: str) -> str:
    """`redis_url` as a result backend URL naming `ResultBackend` (Celery's
    ``module:Class+url`` form; ``redis+socket://`` is ``socket://`` to the backend)."""
    return f"{__name__}:ResultBackend+{redis_url.removeprefix('redis+')}"


def _forget_connections(celery: Any) -> None:
    """Drop the app's broker pool and cached result backend. These are Celery's private
    attributes (typed `Any` here: celery-types leaves them out), the ones Celery clears
    itself after a fork."""
    celery._after_fork()
    celery._backend_cache = None
    celery._local.__dict__.pop("backend", None)


def configure(redis_url: str) -> Celery:
    """Point the app at Redis (broker and results) with polaretl's delivery settings.

    A delivered task may run ``POLARETL_VISIBILITY_TIMEOUT`` seconds before Redis hands it
    to another worker: longer than the longest slice, or the slice runs twice (harmless,
    but wasted work)."""
    visibility = current().visibility_timeout
    transport = {
        "visibility_timeout": visibility,
        # kombu looks for unacknowledged tasks past the timeout every interval x throttle
        # seconds (10 x 10 by default): a task whose worker died would wait 100 s more
        # than the timeout. Look every quarter timeout (at most every 10 s); one ZRANGE.
        "unacked_restore_interval": max(1, min(10, visibility // 4)),
        "unacked_restore_throttle": 1,
    }
    if app.conf.broker_url and app.conf.broker_url != redis_url:
        # Pointed at another Redis (a notebook switching setups, a second test): the app
        # keeps its broker pool and result backend once made, so drop them, as Celery
        # itself does after a fork (`Celery._after_fork`), or tasks go to the old Redis.
        # kombu keeps closed pools in its registry by URL: clear it, or pointing back at
        # a Redis used before would hand out that closed pool ("Acquire on closed pool")
        kombu.pools.reset()
        _forget_connections(app)
    app.conf.update(
        broker_url=redis_url,
        result_backend=_backend_url(redis_url),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        result_expires=86_400,
        task_default_queue=default_queue(),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def project_root() -> Path:
    return (current().project or Path(".")).resolve()


@cache
def _pipeline(name: str) -> Pipeline:
    from polaretl.workspace import get_pipeline

    return get_pipeline(project_root(), name)


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
            lock = ("polaretl:slice:" + pipe.name + ":" + slice,)
            link.conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", lock)
            done = link.conn.execute(
                "SELECT 1 FROM polaretl.slices WHERE run_id = %s AND slice = %s "
                "AND status = 'succeeded'",
                (run_id, slice),
            ).fetchone()
            if done:  # another copy of this task finished the slice while this one waited
                return {"slice": slice, "status": "succeeded", "error": None}
            ctx = LoadContext(run_id=run_id, pipeline=pipe.name, nullable=pipe.nullable)
            prepare_stages(link.conn, pipe, ctx)
            progress = RedisProgress(app.conf.broker_url, run_id, slice)
            outcome = execute_slice(
                pipe,
                link,
                run_id=run_id,
                slice=slice,
                progress=progress,
                max_attempts=current().max_attempts,
            )
            link.conn.execute(
                "UPDATE polaretl.runs SET heartbeat_at = now() WHERE run_id = %s", (run_id,)
            )
        finally:
            link.close()  # and the lock with the session
        return outcome.to_dict()
    except Exception as exc:  # recorded in polaretl.slices by execute_slice, reported here
        log.exception("slice %s of run %s failed", slice, run_id)
        return {"slice": slice, "status": "failed", "error": redact_text(str(exc))}


@app.task(name="polaretl.finalize")
def finalize_task(_results: Any, pipeline: str, run_id: int) -> dict[str, Any]:
    """Total the slices, mark the run succeeded or failed, evaluate alerts."""
    pipe = _pipeline(pipeline)
    with db.connect(_database_url(), autocommit=True) as conn:
        return finalize(conn, pipe, run_id)


def finalize(conn: Any, pipe: Pipeline, run_id: int) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT slice, status, error FROM polaretl.slices WHERE run_id = %s ORDER BY slice",
        (run_id,),
    ).fetchall()
    failed = [(s, e) for s, status, e in rows if status != "succeeded"]
    timings, metrics = run_totals(conn, run_id)
    started = runs.get_run(conn, run_id)
    if started and started["started_at"] is not None:
        total = conn.execute("SELECT extract(epoch FROM now() - %s)", (started["started_at"],))
        timings["total"] = float(total.fetchone()[0])
    error = None
    if failed:
        error = "; ".join(f"slice {s}: {e or 'did not finish'}" for s, e in failed[:5])
        error = f"{len(failed)} of {len(rows)} slices failed — {error}"
    finish(
        conn,
        pipe,
        run_id,
        status="failed" if failed else "succeeded",
        timings=timings,
        metrics=metrics,
        error=error,
    )
    return {"run_id": run_id, "status": "failed" if failed else "succeeded"}


@app.task(name="polaretl.start")
def start_task(pipeline: str, full_refresh: bool = False) -> dict[str, Any]:
    """Start a run from a worker (Celery Beat's entry point); a run already in progress
    makes this one ``skipped``, recorded with the reason."""
    from polaretl.errors import RunLockedError
    from polaretl.run.dispatch import submit

    try:
        run_id = submit(pipeline, project=project_root(), full_refresh=full_refresh)
    except RunLockedError as exc:
        with db.connect(_database_url(), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO polaretl.runs (pipeline, status, executor, finished_at, error) "
                "VALUES (%s, 'skipped', 'celery', now(), %s)",
                (pipeline, str(exc)),
            )
        return {"status": "skipped", "error": str(exc)}
    except PolaretlError as exc:
        return {"status": "failed", "error": redact_text(str(exc))}
    return {"status": "submitted", "run_id": run_id}


def dispatch(pipe: Pipeline, run_id: int, slices: list[str]) -> None:
    """Send the run's slices as `concurrency` parallel lanes, then finalize."""
    queue = pipe.queue or default_queue()
    lanes_n = max(1, min(pipe.concurrency, len(slices)))
    lanes = [slices[i::lanes_n] for i in range(lanes_n)]
    header = [
        chain(*(slice_task.si(pipe.name, run_id, s).set(queue=queue) for s in lane))
        for lane in lanes
    ]
    chord(header)(finalize_task.si(None, pipe.name, run_id).set(queue=queue))


def ensure_configured(workspace: str | Path = ".", redis_url: str | None = None) -> Celery:
    """Configure the app once per process (CLI, notebook, worker)."""
    if not app.conf.broker_url or redis_url:
        configure(resolve_redis(redis_url, workspace))
    return app
