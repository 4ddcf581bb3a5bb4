"""The start of a run, whatever executes it: the run lock, stale runs, the run row.

The lock is the run row itself: a unique partial index allows one ``running`` run per
pipeline, across processes and machines. A session advisory lock serialises starters
(and, for the local executor, is held for the whole run, which is how a local run is
known to be alive). A ``running`` run is stale — its process died — when it is local
and nobody holds the advisory lock, or when it is a Celery run whose heartbeat is older
than `stale_after` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from polaretl.core import Connection, LoadContext
from polaretl.definition import Definition
from polaretl.record import checkpoints, run_keys, runs, slices
from polaretl.settings import current


@dataclass(frozen=True)
class Started:
    run_id: int
    resuming: bool


try_advisory_lock = runs.try_lock
release_advisory_lock = runs.unlock
refused = runs.refused


def begin_run(
    control: Connection,
    pipeline: Definition,
    *,
    executor: str,
    full_refresh: bool,
    stale_after: float | None = None,
) -> Started:
    """Fail stale runs and insert this run as ``running``; the caller holds the pipeline's
    advisory lock. Raises `RunLockedError` when a live run exists. A Celery run counts as
    dead after `stale_after` seconds without a heartbeat (``POLARETL_STALE_AFTER``)."""
    runs.fail_stale(
        control,
        pipeline.name,
        stale_after=current().stale_after if stale_after is None else stale_after,
    )
    resuming = not full_refresh and runs.last_failed(control, pipeline.name) is not None
    run_id = runs.start(control, pipeline.name, executor=executor, full_refresh=full_refresh)
    return Started(run_id, resuming)


def load_context(pipeline: Definition, run_id: int, url: str | None) -> LoadContext:
    """The run's context for its stages in this process: the pipeline's policies, and the
    run's key register for ``on_duplicate="quarantine"``."""
    return LoadContext(
        run_id=run_id,
        pipeline=pipeline.name,
        nullable=pipeline.nullable,
        url=url,
        on_duplicate=pipeline.on_duplicate,
        claim_keys=run_keys.claim,
    )


def prepare_stages(data: Connection, pipeline: Definition, ctx: LoadContext) -> None:
    """Once per process and run: create/check the target, let the validator load what it
    needs, forget the keys finished runs claimed. Idempotent, so every Celery slice task
    calls it too."""
    pipeline.loader.prepare(data, pipeline.output_schema(), ctx)
    pipeline.validator.begin_run(data, ctx)
    run_keys.forget_finished(data)


def start_fresh_if_needed(
    data: Connection, pipeline: Definition, ctx: LoadContext, *, full_refresh: bool, resuming: bool
) -> None:
    """A full refresh (or a replace run that does not resume) forgets the checkpoints and
    lets the loader empty its target, in one transaction."""
    if full_refresh or (not resuming and pipeline.replaces()):
        with data.transaction():
            checkpoints.forget(data, pipeline.name)
            pipeline.loader.start_fresh(data, ctx)


def record_slices(conn: Connection, run_id: int, names: list[str]) -> None:
    slices.add(conn, run_id, names)
