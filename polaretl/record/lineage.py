"""The records behind a loaded row: the run that wrote it, and for a replayed row (source
``quarantine:<id>``) the quarantine record it came from and the run that rejected it."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from polaretl.core import Connection, qualified

# the quarantine record a replayed row came from (the CASE keeps the cast from ever
# seeing a source label that is not one)
_ORIGIN = sql.SQL(
    "CASE WHEN t._polaretl_source ~ '^quarantine:[0-9]+$' "
    "THEN substr(t._polaretl_source, 12)::bigint END"
)


def steps(
    conn: Connection, table: str, wanted: dict[str, object], types: dict[str, str]
) -> list[tuple[Any, ...]]:
    """Rows ``(step, run_id, pipeline, executor, run_status, source, at, quarantine_id,
    errors)`` for the row(s) of `table` whose columns equal `wanted` (each cast to its
    type in `types`): a ``loaded`` step per row, and a ``quarantined`` step per row that
    a replay loaded from a quarantine record."""
    match = sql.SQL(" AND ").join(
        [sql.SQL("t.{} = %s::{}").format(sql.Identifier(c), sql.SQL(types[c])) for c in wanted]
    )
    return conn.execute(
        sql.SQL(
            "SELECT 'loaded', r.run_id, r.pipeline, r.executor, r.status, t._polaretl_source, "
            "t._polaretl_loaded_at, q.id, NULL::text FROM {} t "
            "LEFT JOIN polaretl.runs r ON r.run_id = t._polaretl_run_id "
            "LEFT JOIN polaretl.quarantine q ON q.id = {origin} "
            "WHERE {} "
            "UNION ALL "
            "SELECT 'quarantined', r.run_id, r.pipeline, r.executor, r.status, q.source, "
            "q.created_at, q.id, q.errors::text FROM {} t "
            "JOIN polaretl.quarantine q ON q.id = {origin} "
            "LEFT JOIN polaretl.runs r ON r.run_id = q.run_id WHERE {}"
        ).format(qualified(table), match, qualified(table), match, origin=_ORIGIN),
        [*wanted.values(), *wanted.values()],
    ).fetchall()
