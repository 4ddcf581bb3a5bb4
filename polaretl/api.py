"""The notebook API over the records: run history and quarantine as Polars frames."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from polaretl import db
from polaretl.record import quarantine as _quarantine
from polaretl.record.result import RunResult
from polaretl.record.schema import ensure_schema

_RUN_COLUMNS = (
    "run_id, pipeline, status, executor, started_at, finished_at, processed, valid, "
    "rejected, loaded, batches, error, timings::text AS timings"
)


def runs(
    pipeline: str | None = None,
    *,
    limit: int = 100,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> pl.DataFrame:
    """Run history, newest first, as a `polars.DataFrame`."""
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        where = "WHERE pipeline = %s" if pipeline else ""
        params: list[object] = [pipeline] if pipeline else []
        cur = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM polaretl.runs {where} ORDER BY run_id DESC LIMIT %s",
            [*params, limit],
        )
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def quarantine(
    pipeline: str | None = None,
    *,
    status: str | None = "pending",
    run_id: int | None = None,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> pl.DataFrame:
    """Quarantined records (``raw`` and ``errors`` as JSON text) as a `polars.DataFrame`."""
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        return _quarantine.read(conn, pipeline, status=status, run_id=run_id)


def submit(
    pipeline: str,
    *,
    project: str | Path = ".",
    full_refresh: bool = False,
    database_url: str | None = None,
    redis_url: str | None = None,
) -> int:
    """Start a run of the workspace's pipeline on the Celery workers; return its run id.

    Follow it with `wait(run_id)` (or ``polaretl show RUN_ID``).
    """
    from polaretl.run.dispatch import submit as _submit

    return _submit(
        pipeline,
        project=project,
        full_refresh=full_refresh,
        database_url=database_url,
        redis_url=redis_url,
    )


def wait(
    run_id: int,
    *,
    timeout: float | None = None,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> RunResult:
    """Block until a run has finished; return its `RunResult`."""
    from polaretl.run.dispatch import wait as _wait

    return _wait(run_id, timeout=timeout, database_url=database_url, workspace=workspace)
