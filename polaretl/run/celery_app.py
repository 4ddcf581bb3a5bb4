"""The Celery app of the Celery executor: its configuration, and `send`, which sends a
run's slices as tasks (the tasks themselves are `polaretl.run.tasks`).

A run is N slice tasks and a finalize step (a chord).

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

from pathlib import Path
from typing import Any

import kombu.pools
from celery import Celery, chain, chord
from celery.backends.redis import RedisBackend

from polaretl.definition import Definition
from polaretl.run.broker import resolve_url as resolve_redis
from polaretl.settings import current


def default_queue() -> str:
    """The queue of pipelines that name none: ``POLARETL_QUEUE``, else ``polaretl`` (one
    Redis can then serve several independent setups, e.g. concurrent test sessions)."""
    return current().queue


# the worker imports the tasks when it starts; senders name them (`send`)
app = Celery("polaretl", include=["polaretl.run.tasks"])


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
    """The workspace a worker's tasks run in (``POLARETL_PROJECT``, else here)."""
    return (current().project or Path(".")).resolve()


def send(pipe: Definition, run_id: int, slices: list[str]) -> None:
    """Send the run's slices as `concurrency` parallel lanes, then finalize."""
    queue = pipe.queue or default_queue()
    lanes_n = max(1, min(pipe.concurrency, len(slices)))
    lanes = [slices[i::lanes_n] for i in range(lanes_n)]
    header = [
        chain(
            *(
                app.signature("polaretl.slice", (pipe.name, run_id, s), immutable=True).set(
                    queue=queue
                )
                for s in lane
            )
        )
        for lane in lanes
    ]
    finalize = app.signature("polaretl.finalize", (None, pipe.name, run_id), immutable=True)
    chord(header)(finalize.set(queue=queue))


def ensure_configured(workspace: str | Path = ".", redis_url: str | None = None) -> Celery:
    """Configure the app once per process (CLI, notebook, worker)."""
    if not app.conf.broker_url or redis_url:
        configure(resolve_redis(redis_url, workspace))
    return app
