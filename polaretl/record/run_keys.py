"""Keys a run has loaded, in ``polaretl.run_keys``: what ``on_duplicate="quarantine"``
checks a key against.

Under that policy the first occurrence of a key in a run is loaded and every later one
is quarantined, whatever batch or slice (or worker) it comes in. The target table cannot
tell on its own: an upsert leaves a row identical to what an earlier run loaded untouched
(it keeps that run's ``_polaretl_run_id``), so the run's keys are claimed here, in the
batch's transaction. ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` claims them
atomically: two slices committing the same key at once serialise on the primary key and
only the first gets it. The keys of finished runs are forgotten when a run prepares.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from polaretl.core import Connection


def key_text(key: Sequence[str], alias: str = "s") -> sql.Composed:
    """SQL text identifying a key value: the row's text form, ``ROW(s.a, s.b)::text``
    (``(60,"a b")``; values are quoted as needed, so two keys never share a text).

    Example:
        >>> key_text(["order_id"]).as_string(None)
        'ROW("s"."order_id")::text'
    """
    return sql.SQL("ROW({})::text").format(
        sql.SQL(", ").join(sql.Identifier(alias, k) for k in key)
    )


def claim(conn: Connection, run_id: int, stage: str, key: Sequence[str], row: str) -> list[int]:
    """Claim the staged keys for `run_id`; delete the staged rows whose key the run had
    already claimed and return their `row` numbers (the refused repeats).

    Runs inside the batch's transaction, once the batch is staged in table `stage`; the
    loader calls it as its run's `LoadContext.claim_keys` (a `polaretl.core.KeyClaim`).
    """
    statement = sql.SQL(
        "WITH fresh AS (INSERT INTO polaretl.run_keys (run_id, key) "
        "  SELECT DISTINCT %s::bigint, {key} FROM {stage} s ON CONFLICT DO NOTHING "
        "  RETURNING key) "
        "DELETE FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.key = {key}) "
        "RETURNING s.{row}"
    ).format(key=key_text(key), stage=sql.Identifier(stage), row=sql.Identifier(row))
    return [int(r[0]) for r in conn.execute(statement, (run_id,)).fetchall()]


def forget_finished(conn: Connection) -> None:
    """Delete the claimed keys of runs that are no longer running."""
    conn.execute(
        "DELETE FROM polaretl.run_keys k USING polaretl.runs r "
        "WHERE k.run_id = r.run_id AND r.status <> 'running'"
    )
