"""The notebook API over the records: run history and quarantine as Polars frames,
quarantine replay and discard, schema history and lineage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from polaretl import db
from polaretl.core import qualified
from polaretl.definition import Definition
from polaretl.errors import ConfigError
from polaretl.quality.corrections import export_frame
from polaretl.quality.corrections import read as read_corrections
from polaretl.quality.lineage import lineage as lineage_steps
from polaretl.record import quarantine as _quarantine
from polaretl.record import runs as run_records
from polaretl.record import schema_versions
from polaretl.record.quarantine import QuarantineStatus
from polaretl.record.runs import RunResult
from polaretl.record.schema import ensure_schema
from polaretl.run.replay import replay as run_replay
from polaretl.workspace import find_root, get_pipeline

if TYPE_CHECKING:
    from polaretl.pipeline import Pipeline


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
        return run_records.history(conn, pipeline or None, limit=limit)


def quarantine(
    pipeline: str | None = None,
    *,
    status: str | None = QuarantineStatus.PENDING,
    run_id: int | None = None,
    column: str | None = None,
    check: str | None = None,
    fields: bool = False,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> pl.DataFrame:
    """Quarantined records as a `polars.DataFrame`.

    Args:
        pipeline: whose records (None: all; `fields=True` needs one).
        status: ``pending`` (default), ``replayed``, ``discarded`` or None for all.
        run_id, column, check: only records of that run / with an error on that column /
            of that check (``"references(customers.customer_id)"``, ``"dtype('Int64')"``).
        fields: the export layout instead (one text column per raw field plus
            ``_quarantine_id``, ``_quarantine_errors``, ...): edit it and pass it to
            `replay(corrections=...)`.

    Returns:
        By default ``id, run_id, pipeline, slice, source, raw, errors, status, ...``
        (``raw``, ``errors`` and ``corrected`` as JSON text).
    """
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        if fields:
            if pipeline is None:
                raise ConfigError("quarantine(fields=True) needs the pipeline's name.")
            return export_frame(
                conn, pipeline, status=status, run_id=run_id, column=column, check=check
            )
        return _quarantine.read(
            conn, pipeline, status=status, run_id=run_id, column=column, check=check
        )


def replay(
    pipeline: str | Pipeline,
    *,
    run_id: int | None = None,
    ids: Sequence[int] | None = None,
    file: str | Path | None = None,
    corrections: pl.DataFrame | None = None,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> RunResult:
    """Re-ingest pending quarantined records through the pipeline's contract, transforms
    and loader, as a run recorded under ``NAME:replay``.

    Args:
        pipeline: a `Pipeline`, or the name of one in the workspace.
        run_id, ids: only records of that run / with those ids.
        file: an edited export (``polaretl quarantine export``, CSV or Parquet).
        corrections: the same as a frame (`quarantine(NAME, fields=True)`, edited).

    Without `file` or `corrections`, records are replayed as stored (``raw``, or the
    ``corrected`` column if someone fixed them in the database). Loaded records become
    ``replayed``; still-invalid ones stay ``pending`` with their new errors. Idempotent.

    Example:
        >>> import polaretl as pe  # doctest: +SKIP
        >>> fix = pe.quarantine("orders", fields=True)  # doctest: +SKIP
        >>> fix = fix.with_columns(amount=pl.col("amount").str.replace("^-", ""))  # doctest: +SKIP
        >>> pe.replay("orders", corrections=fix).loaded  # doctest: +SKIP
        2
    """
    pipe = _pipeline(pipeline, workspace)
    if file is not None and corrections is not None:
        raise ConfigError("Give file= or corrections=, not both.")
    corrected = read_corrections(file) if file is not None else corrections
    url = db.resolve_url(database_url, workspace)
    return run_replay(
        pipe, url, run_id=run_id, ids=list(ids) if ids is not None else None, corrected=corrected
    )


def discard(
    pipeline: str,
    *,
    ids: Sequence[int],
    reason: str,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> int:
    """Discard pending quarantined records of `pipeline` with a reason; return how many
    were discarded (records already replayed or discarded are left alone)."""
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        return _quarantine.discard(conn, pipeline, list(ids), reason)


def schema_history(
    pipeline: str, *, database_url: str | None = None, workspace: str | Path = "."
) -> pl.DataFrame:
    """The recorded versions of a pipeline's source shape (``polaretl schema NAME``)."""
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        return schema_versions.history(conn, pipeline)


def lineage(
    table_or_pipeline: str | Pipeline,
    key: Any,
    *,
    database_url: str | None = None,
    workspace: str | Path = ".",
) -> pl.DataFrame:
    """Where the row with primary key `key` came from: one row per step (``loaded`` by a
    run from a source position; ``quarantined`` first, for a replayed row).

    Args:
        table_or_pipeline: a table (``orders``, ``sales.orders``), or a pipeline (or its
            name) whose target is meant.
        key: the primary key value; a tuple for a composite key, or a dict.
    """
    url = db.resolve_url(database_url, workspace)
    with db.connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        table = _table(conn, table_or_pipeline, workspace)
        return lineage_steps(conn, table, key)


def _pipeline(pipeline: str | Definition, workspace: str | Path) -> Definition:
    if not isinstance(pipeline, str):
        return pipeline
    return get_pipeline(find_root(workspace), pipeline)


def _table(conn: Any, target: str | Definition, workspace: str | Path) -> str:
    """A table name: `target` itself when such a table exists, else its pipeline's."""
    if isinstance(target, str):
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (qualified(target).as_string(conn),)
        ).fetchone()
        if row and row[0]:
            return target
    table = getattr(_pipeline(target, workspace).loader, "table", None)
    if not isinstance(table, str):
        raise ConfigError(f"Pipeline {target!r} does not load a PostgreSQL table.")
    return table


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
    from polaretl.run.dispatch import submit as _submit  # Celery is heavy: only when used

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
    from polaretl.run.dispatch import wait as _wait  # Celery is heavy: only when used

    return _wait(run_id, timeout=timeout, database_url=database_url, workspace=workspace)
