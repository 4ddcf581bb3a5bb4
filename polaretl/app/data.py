"""What the ops app shows, as Polars frames: plain functions over the ``polaretl`` schema.

Nothing here imports Streamlit, so every query is tested on its own. Each function takes
the database URL, opens a short autocommit connection and returns a frame (JSON columns
as text); the schema is created or migrated on first use, as the CLI does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from psycopg import sql

from polaretl import db
from polaretl.core import Connection
from polaretl.record.schema import ensure_schema

STAGES = ("extract", "validate", "transform", "load", "record")
STATUSES = ("running", "succeeded", "failed", "skipped")
# every error of a quarantined record, whatever shape `errors` has (a list, or one object)
_ERRORS = (
    "jsonb_array_elements(CASE WHEN jsonb_typeof(q.errors) = 'array' THEN q.errors "
    "ELSE jsonb_build_array(q.errors) END)"
)
_migrated: set[str] = set()


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """An autocommit connection; the ``polaretl`` schema is ensured once per URL."""
    with db.connect(url, autocommit=True) as conn:
        if url not in _migrated:
            ensure_schema(conn)
            _migrated.add(url)
        yield conn


def query(url: str, statement: str | sql.Composable, params: Sequence[Any] = ()) -> pl.DataFrame:
    """Run one query and return its rows as a frame (columns named as selected)."""
    with connect(url) as conn:
        cur = conn.execute(statement, list(params))  # type: ignore[arg-type]
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def _where(**filters: Any) -> tuple[sql.Composable, list[Any]]:
    """``WHERE a = %s AND ...`` over the filters that are not None (keys are trusted).

    ``since`` compares with ``started_at``; others are equality on the column of that name.
    """
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "since":
            parts.append(sql.SQL("started_at >= %s"))
        else:
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(key)))
        params.append(value)
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params


_RUN_COLUMNS = sql.SQL(
    "run_id, pipeline, status, executor, started_at, finished_at, processed, valid, "
    "rejected, loaded, batches, (timings->>'total')::float8 AS seconds, "
    "rejected::float8 / NULLIF(processed, 0) AS rejection_rate, error"
)


def pipeline_names(url: str) -> list[str]:
    """Pipelines that have runs recorded, by name."""
    frame = query(url, "SELECT DISTINCT pipeline FROM polaretl.runs ORDER BY 1")
    return [str(p) for p in frame["pipeline"]]


def pipelines(
    url: str, *, since: dt.datetime | None = None, known: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per pipeline: last run and status, success rate, rows and rejection rate.

    Args:
        since: count runs started from then on (the last run is always the last one).
        known: pipelines of the workspace, listed even before their first run.
    """
    where, params = _where(since=since)
    statement = sql.SQL(
        "WITH stats AS ("
        " SELECT pipeline, count(*) AS runs,"
        "  count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
        "  count(*) FILTER (WHERE status = 'failed') AS failed,"
        "  count(*) FILTER (WHERE status = 'succeeded')::float8"
        "   / NULLIF(count(*) FILTER (WHERE status IN ('succeeded', 'failed')), 0)"
        "   AS success_rate,"
        "  sum(processed)::bigint AS processed, sum(loaded)::bigint AS loaded,"
        "  sum(rejected)::bigint AS rejected,"
        "  sum(rejected)::float8 / NULLIF(sum(processed), 0) AS rejection_rate"
        " FROM polaretl.runs {where} GROUP BY pipeline),"
        " last AS (SELECT DISTINCT ON (pipeline) pipeline, run_id AS last_run,"
        "  status AS last_status, started_at AS last_started, finished_at AS last_finished,"
        "  (timings->>'total')::float8 AS last_seconds, error AS last_error"
        " FROM polaretl.runs ORDER BY pipeline, run_id DESC)"
        " SELECT last.pipeline, last_status, last_run, last_started, last_finished,"
        "  last_seconds, coalesce(runs, 0) AS runs, coalesce(succeeded, 0) AS succeeded,"
        "  coalesce(failed, 0) AS failed, success_rate, coalesce(processed, 0) AS processed,"
        "  coalesce(loaded, 0) AS loaded, coalesce(rejected, 0) AS rejected, rejection_rate,"
        "  last_error"
        " FROM last LEFT JOIN stats USING (pipeline) ORDER BY last.pipeline"
    ).format(where=where)
    frame = query(url, statement, params)
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
    where, params = _where(pipeline=pipeline, status=status, since=since)
    statement = sql.SQL("SELECT {} FROM polaretl.runs {} ORDER BY run_id DESC LIMIT %s").format(
        _RUN_COLUMNS, where
    )
    return query(url, statement, [*params, limit])


def series(
    url: str, *, pipeline: str | None = None, since: dt.datetime | None = None
) -> pl.DataFrame:
    """Finished runs oldest first, for charts: rows loaded and rejection rate over time."""
    where, params = _where(pipeline=pipeline, since=since)
    statement = sql.SQL(
        "SELECT run_id, pipeline, status, coalesce(finished_at, started_at) AS at, processed,"
        " loaded, rejected, rejected::float8 / NULLIF(processed, 0) AS rejection_rate,"
        " (timings->>'total')::float8 AS seconds"
        " FROM polaretl.runs {} AND status <> 'running' ORDER BY run_id"
    ).format(where)
    return query(url, statement, params)


def run(url: str, run_id: int) -> dict[str, Any] | None:
    """One run's whole row (timings and metrics as dicts), or None."""
    with connect(url) as conn:
        cur = conn.execute("SELECT * FROM polaretl.runs WHERE run_id = %s", (run_id,))
        row = cur.fetchone()
        names = [d.name for d in cur.description or []]
    return dict(zip(names, row, strict=True)) if row is not None else None


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
    where, params = _where(run_id=run_id, pipeline=pipeline)
    statement = sql.SQL(
        'SELECT "column", "check", sum(count)::bigint AS count FROM polaretl.rejections {}'
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).format(where)
    return query(url, statement, params)


def alerts(
    url: str,
    *,
    pipeline: str | None = None,
    run_id: int | None = None,
    rule: str | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """Alerts fired, newest first; ``failed_channels`` counts channels that did not say ok."""
    where, params = _where(pipeline=pipeline, run_id=run_id, rule=rule)
    statement = sql.SQL(
        "SELECT id, fired_at, pipeline, rule, run_id, message, channels::text AS channels,"
        " (SELECT count(*) FROM jsonb_each_text(channels) c WHERE c.value <> 'ok')"
        "  AS failed_channels"
        " FROM polaretl.alerts {} ORDER BY id DESC LIMIT %s"
    ).format(where)
    return query(url, statement, [*params, limit])


def schema_versions(
    url: str, *, pipeline: str | None = None, run_id: int | None = None
) -> pl.DataFrame:
    """Recorded schema versions, newest first (JSON columns as text)."""
    where, params = _where(pipeline=pipeline, run_id=run_id)
    statement = sql.SQL(
        "SELECT id, pipeline, version, run_id, detected_at, columns::text AS columns,"
        " added::text AS added, removed::text AS removed, retyped::text AS retyped,"
        " renamed::text AS renamed FROM polaretl.schema_versions {}"
        " ORDER BY pipeline, version DESC"
    ).format(where)
    return query(url, statement, params)


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
    url: str, *, pipeline: str | None = None, status: str | None = "pending"
) -> pl.DataFrame:
    """Quarantined records by reason (column and check): records, and one example message."""
    where, params = _where(pipeline=pipeline, status=status)
    statement = sql.SQL(
        "SELECT e->>'column' AS \"column\", e->>'check' AS \"check\","
        " count(DISTINCT q.id) AS records, min(e->>'message') AS example"
        " FROM polaretl.quarantine q CROSS JOIN LATERAL {errors} AS e {where}"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).format(errors=sql.SQL(_ERRORS), where=where)
    return query(url, statement, params)


def quarantine_records(
    url: str,
    *,
    pipeline: str | None = None,
    status: str | None = "pending",
    run_id: int | None = None,
    reason: tuple[str | None, str] | None = None,
    limit: int = 1000,
) -> pl.DataFrame:
    """Quarantined records (newest first) with their messages, raw record and errors.

    Args:
        reason: (column, check): only records with such an error.
    """
    where, params = _where(pipeline=pipeline, status=status, run_id=run_id)
    if reason is not None:
        where = where + sql.SQL(
            " AND EXISTS (SELECT 1 FROM {errors} AS e"
            " WHERE e->>'column' IS NOT DISTINCT FROM %s AND e->>'check' = %s)"
        ).format(errors=sql.SQL(_ERRORS))
        params.extend(reason)
    statement = sql.SQL(
        "SELECT id, run_id, pipeline, source, status, created_at,"
        " (SELECT string_agg(e->>'message', '; ') FROM {errors} AS e) AS messages,"
        " raw::text AS raw, errors::text AS errors, discard_reason, replay_run_id"
        " FROM polaretl.quarantine q {where} ORDER BY id DESC LIMIT %s"
    ).format(errors=sql.SQL(_ERRORS), where=where)
    return query(url, statement, [*params, limit])
