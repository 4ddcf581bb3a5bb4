"""What the ops app shows, as Polars frames: plain functions over the ``polaretl`` schema.

Nothing here imports Streamlit, so every function is tested on its own. Each takes the
database URL, opens a short autocommit connection and returns what `polaretl.record`
reads (JSON columns as text); the schema is created or migrated on first use, as the CLI
does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from polaretl import db
from polaretl.core import Connection
from polaretl.record import alerts as alerts_table
from polaretl.record import quarantine as quarantine_table
from polaretl.record import runs as runs_table
from polaretl.record import schema_versions as versions_table
from polaretl.record.quarantine import QuarantineStatus
from polaretl.record.runs import RunStatus
from polaretl.record.schema import ensure_schema

STAGES = ("extract", "validate", "transform", "load", "record")
STATUSES = tuple(RunStatus)
_migrated: set[str] = set()


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """An autocommit connection; the ``polaretl`` schema is ensured once per URL."""
    with db.connect(url, autocommit=True) as conn:
        if url not in _migrated:
            ensure_schema(conn)
            _migrated.add(url)
        yield conn


def pipeline_names(url: str) -> list[str]:
    """Pipelines that have runs recorded, by name."""
    with connect(url) as conn:
        return runs_table.names(conn)


def pipelines(
    url: str, *, since: dt.datetime | None = None, known: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per pipeline: last run and status, success rate, rows and rejection rate.

    Args:
        since: count runs started from then on (the last run is always the last one).
        known: pipelines of the workspace, listed even before their first run.
    """
    with connect(url) as conn:
        frame = runs_table.overview(conn, since=since)
    missing = sorted(set(known) - set(frame["pipeline"].to_list()))
    if missing:
        frame = pl.concat(
            [frame, pl.DataFrame({"pipeline": missing})], how="diagonal_relaxed"
        ).sort("pipeline")
    return frame


def runs(
    url: str,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """Run history, newest first, with total seconds and rejection rate."""
    with connect(url) as conn:
        return runs_table.listing(conn, pipeline=pipeline, status=status, since=since, limit=limit)


def series(
    url: str, *, pipeline: str | None = None, since: dt.datetime | None = None
) -> pl.DataFrame:
    """Finished runs oldest first, for charts: rows loaded and rejection rate over time."""
    with connect(url) as conn:
        return runs_table.series(conn, pipeline=pipeline, since=since)


def run(url: str, run_id: int) -> dict[str, Any] | None:
    """One run's whole row (timings and metrics as dicts), or None."""
    with connect(url) as conn:
        return runs_table.row(conn, run_id)


def stage_timings(url: str, run_id: int) -> pl.DataFrame:
    """Seconds per stage of a run (extract, validate, transform, load, record, others)."""
    found = run(url, run_id)
    timings: dict[str, Any] = dict((found or {}).get("timings") or {})
    timings.pop("total", None)
    order = [s for s in STAGES if s in timings] + sorted(set(timings) - set(STAGES))
    return pl.DataFrame(
        {"stage": order, "seconds": [float(timings[s]) for s in order]},
        schema={"stage": pl.String, "seconds": pl.Float64},
    )


def rejections(url: str, *, run_id: int | None = None, pipeline: str | None = None) -> pl.DataFrame:
    """Rejections by column and check (the ``polaretl.rejections`` view)."""
    with connect(url) as conn:
        return quarantine_table.rejections(conn, run_id=run_id, pipeline=pipeline)


def alerts(
    url: str,
    *,
    pipeline: str | None = None,
    run_id: int | None = None,
    rule: str | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """Alerts fired, newest first; ``failed_channels`` counts channels that did not say ok."""
    with connect(url) as conn:
        return alerts_table.listing(conn, pipeline=pipeline, run_id=run_id, rule=rule, limit=limit)


def schema_versions(
    url: str, *, pipeline: str | None = None, run_id: int | None = None
) -> pl.DataFrame:
    """Recorded schema versions, newest first (JSON columns as text)."""
    with connect(url) as conn:
        return versions_table.listing(conn, pipeline=pipeline, run_id=run_id)


def column_types(columns: Any) -> dict[str, str]:
    """A schema version's ``columns`` as {name: type}, whatever shape drift detection used.

    Example:
        >>> column_types('[{"name": "a", "type": "Int64"}, ["b", "String"], "c"]')
        {'a': 'Int64', 'b': 'String', 'c': ''}
    """
    if isinstance(columns, str):
        columns = json.loads(columns)
    if isinstance(columns, dict):
        return {str(k): "" if v is None else str(v) for k, v in columns.items()}
    out: dict[str, str] = {}
    for item in columns or []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("column")
            out[str(name)] = str(item.get("type") or item.get("dtype") or "")
        elif isinstance(item, list | tuple) and item:
            out[str(item[0])] = str(item[1]) if len(item) > 1 else ""
        else:
            out[str(item)] = ""
    return out


def schema_diff(old: Any, new: Any) -> pl.DataFrame:
    """Column by column, what changed from one schema version to another.

    Example:
        >>> schema_diff({"a": "integer", "b": "text"}, {"a": "float", "c": "text"}).rows()
        [('a', 'retyped', 'integer', 'float'), ('b', 'removed', 'text', None), \
('c', 'added', None, 'text')]
    """
    before, after = column_types(old), column_types(new)
    rows: list[tuple[str, str, str | None, str | None]] = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            rows.append((name, "added", None, after[name]))
        elif name not in after:
            rows.append((name, "removed", before[name], None))
        elif before[name] != after[name]:
            rows.append((name, "retyped", before[name], after[name]))
    return pl.DataFrame(
        rows,
        schema={"column": pl.String, "change": pl.String, "before": pl.String, "after": pl.String},
        orient="row",
    )


def quarantine_reasons(
    url: str, *, pipeline: str | None = None, status: str | None = QuarantineStatus.PENDING
) -> pl.DataFrame:
    """Quarantined records by reason (column and check): records, and one example message."""
    with connect(url) as conn:
        return quarantine_table.reasons_with_example(conn, pipeline=pipeline, status=status)


def quarantine_records(
    url: str,
    *,
    pipeline: str | None = None,
    status: str | None = QuarantineStatus.PENDING,
    run_id: int | None = None,
    reason: tuple[str | None, str] | None = None,
    limit: int = 1000,
) -> pl.DataFrame:
    """Quarantined records (newest first) with their messages, raw record and errors.

    Args:
        reason: (column, check): only records with such an error.
    """
    with connect(url) as conn:
        return quarantine_table.for_review(
            conn, pipeline=pipeline, status=status, run_id=run_id, reason=reason, limit=limit
        )


def latest_run_id(url: str) -> int:
    """The newest run's id (0: none yet)."""
    with connect(url) as conn:
        return runs_table.latest_id(conn)


def run_started_by(url: str, pipeline: str, *, host: str, pid: int, after: int) -> int | None:
    """The run of `pipeline` that process `pid` on `host` started after run `after`."""
    with connect(url) as conn:
        return runs_table.started_by(conn, pipeline, host=host, pid=pid, after=after)
