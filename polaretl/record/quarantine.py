"""Quarantined records in ``polaretl.quarantine``: written by COPY in the batch's
transaction, read back as Polars frames, and moved through their lifecycle:

    pending --replay (loaded)--> replayed      (replay_run_id: the run that loaded it)
    pending --replay (invalid)--> pending      (errors: the new reasons)
    pending --discard (reason)--> discarded    (discard_reason)
    pending --received again--> discarded      (superseded by the newer copy, which is
                                                pending: one pending copy per record)

``raw`` is never changed: it is the record as received. A correction (an edited export,
or the Python API) is kept in ``corrected``, and replay reads ``coalesce(corrected, raw)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl
from psycopg import sql

from polaretl.core import Connection
from polaretl.errors import ConfigError

STATUSES = ("pending", "replayed", "discarded")


def write(conn: Connection, frame: pl.DataFrame, *, run_id: int, pipeline: str, slice: str) -> int:
    """COPY quarantined rows (``source``, ``raw``, ``errors``) in the open transaction.

    The frame goes over as CSV text (jsonb parses its text form), in one COPY: no
    per-row statements even when a whole chunk is rejected. A record an earlier run
    quarantined and that arrives again (same source, same raw) supersedes that pending
    copy, which is marked discarded with the reason: every run keeps the records it
    rejected, and a record is pending once.
    """
    if frame.height == 0:
        return 0
    rows = frame.select(
        pl.lit(run_id, dtype=pl.Int64).alias("run_id"),
        pl.lit(pipeline).alias("pipeline"),
        pl.lit(slice).alias("slice"),
        "source",
        # PostgreSQL text cannot hold NUL; jsonb would reject the escape too
        pl.col("raw").str.replace_all("\\u0000", "\\ufffd", literal=True),
        pl.col("errors").str.replace_all("\\u0000", "\\ufffd", literal=True),
    )
    statement = sql.SQL(
        "COPY polaretl.quarantine (run_id, pipeline, slice, source, raw, errors) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(rows.write_csv(include_header=False, null_value="").encode("utf-8"))
    # Probed by source through the partial index, from the batch's side: a join planned
    # from the pending side went quadratic while the table's statistics were stale.
    again = rows.filter(pl.col("source").is_not_null())
    earlier = conn.execute(
        "SELECT EXISTS (SELECT FROM polaretl.quarantine WHERE pipeline = %s "
        "AND status = 'pending' AND run_id <> %s)",
        (pipeline, run_id),
    ).fetchone()
    if again.height and earlier and earlier[0]:  # else nothing can be superseded
        conn.execute(
            "UPDATE polaretl.quarantine SET status = 'discarded', updated_at = now(), "
            "discard_reason = 'superseded: received again by run ' || %(run)s "
            "WHERE pipeline = %(pipeline)s AND status = 'pending' AND run_id <> %(run)s "
            "AND source = ANY(%(sources)s) AND (source, raw) IN "
            "(SELECT s, r FROM unnest(%(sources)s::text[], %(raws)s::jsonb[]) AS u (s, r))",
            {
                "run": run_id,
                "pipeline": pipeline,
                "sources": again["source"].to_list(),
                "raws": again["raw"].to_list(),
            },
        )
    return frame.height


def where(
    pipeline: str | None = None,
    *,
    status: str | None = "pending",
    run_id: int | None = None,
    column: str | None = None,
    check: str | None = None,
    ids: Sequence[int] | None = None,
    alias: str = "q",
) -> tuple[sql.Composed, list[object]]:
    """A WHERE clause (and its parameters) selecting quarantined records.

    `column` and `check` keep records with at least one error on that column / of that
    check (both: the same error). `status` None means any status.

    Example:
        >>> clause, params = where("orders", column="amount")
        >>> clause.as_string(None), params
        ('"q"."pipeline" = %s AND "q"."status" = %s AND "q"."errors" @> %s::jsonb', \
['orders', 'pending', '[{"column": "amount"}]'])
    """
    parts: list[sql.Composable] = []
    params: list[object] = []

    def add(name: str, op: str, value: object) -> None:
        parts.append(sql.SQL("{} " + op).format(sql.Identifier(alias, name)))
        params.append(value)

    if status is not None and status not in STATUSES:
        raise ConfigError(f"status must be one of {', '.join(STATUSES)} (or None for all).")
    if pipeline is not None:
        add("pipeline", "= %s", pipeline)
    if status is not None:
        add("status", "= %s", status)
    if run_id is not None:
        add("run_id", "= %s", run_id)
    if ids is not None:
        add("id", "= ANY(%s)", [int(i) for i in ids])
    if column is not None or check is not None:
        error = {k: v for k, v in (("column", column), ("check", check)) if v is not None}
        add("errors", "@> %s::jsonb", json.dumps([error]))
    return sql.SQL(" AND ").join(parts or [sql.SQL("TRUE")]), params


def read(
    conn: Connection,
    pipeline: str | None = None,
    *,
    status: str | None = "pending",
    run_id: int | None = None,
    column: str | None = None,
    check: str | None = None,
    ids: Sequence[int] | None = None,
) -> pl.DataFrame:
    """Quarantined records as a frame (``raw``, ``corrected`` and ``errors`` as JSON text)."""
    clause, params = where(
        pipeline, status=status, run_id=run_id, column=column, check=check, ids=ids
    )
    query = sql.SQL(
        "SELECT id, run_id, pipeline, slice, source, raw::text AS raw, errors::text AS errors, "
        "status, created_at, updated_at, replay_run_id, discard_reason, "
        "corrected::text AS corrected FROM polaretl.quarantine q WHERE {} ORDER BY id"
    ).format(clause)
    return _frame(conn, query, params)


def reasons(
    conn: Connection,
    pipeline: str,
    *,
    status: str | None = "pending",
    run_id: int | None = None,
    column: str | None = None,
    check: str | None = None,
) -> pl.DataFrame:
    """Records counted by reason (column, check), most frequent first."""
    clause, params = where(pipeline, status=status, run_id=run_id, column=column, check=check)
    query = sql.SQL(
        "SELECT e->>'column' AS \"column\", e->>'check' AS \"check\", "
        "count(DISTINCT q.id) AS records FROM polaretl.quarantine q "
        "CROSS JOIN LATERAL jsonb_array_elements(q.errors) e WHERE {} "
        "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).format(clause)
    return _frame(conn, query, params)


def mark_replayed(conn: Connection, ids: Sequence[int], replay_run_id: int) -> int:
    """Pending records `ids` were loaded by run `replay_run_id`."""
    if not ids:
        return 0
    return conn.execute(
        "UPDATE polaretl.quarantine SET status = 'replayed', replay_run_id = %s, "
        "updated_at = now() WHERE id = ANY(%s) AND status = 'pending'",
        (replay_run_id, [int(i) for i in ids]),
    ).rowcount


def still_invalid(conn: Connection, frame: pl.DataFrame) -> int:
    """Record the new reasons of records that failed again (`frame`: ``id``, ``errors``
    as JSON text); they stay pending. Unchanged reasons are not rewritten."""
    if frame.height == 0:
        return 0
    return conn.execute(
        "UPDATE polaretl.quarantine q SET errors = n.errors, updated_at = now() "
        "FROM (SELECT id, (errors #>> '{}')::jsonb AS errors "
        "      FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, errors jsonb)) n "
        "WHERE q.id = n.id AND q.status = 'pending' AND q.errors IS DISTINCT FROM n.errors",
        (frame.select("id", "errors").write_json(),),
    ).rowcount


def correct(conn: Connection, frame: pl.DataFrame) -> int:
    """Store corrections (`frame`: ``id``, ``corrected`` as JSON text) of pending records;
    a "correction" equal to the raw record is no correction (``corrected`` stays null)."""
    if frame.height == 0:
        return 0
    return conn.execute(
        "UPDATE polaretl.quarantine q SET corrected = n.corrected, updated_at = now() "
        "FROM (SELECT r.id, CASE WHEN (r.corrected #>> '{}')::jsonb = q0.raw THEN NULL "
        "      ELSE (r.corrected #>> '{}')::jsonb END AS corrected "
        "      FROM jsonb_to_recordset(%s::jsonb) AS r(id bigint, corrected jsonb) "
        "      JOIN polaretl.quarantine q0 ON q0.id = r.id) n "
        "WHERE q.id = n.id AND q.status = 'pending' AND q.corrected IS DISTINCT FROM n.corrected",
        (frame.select("id", "corrected").write_json(),),
    ).rowcount


def discard(conn: Connection, pipeline: str, ids: Sequence[int], reason: str) -> int:
    """Discard pending records of `pipeline` with a reason; return how many."""
    if not reason.strip():
        raise ConfigError("Discarding quarantined records needs a reason (--reason).")
    return conn.execute(
        "UPDATE polaretl.quarantine SET status = 'discarded', discard_reason = %s, "
        "updated_at = now() WHERE pipeline = %s AND id = ANY(%s) AND status = 'pending'",
        (reason, pipeline, [int(i) for i in ids]),
    ).rowcount


def _frame(conn: Connection, query: sql.Composed, params: list[Any]) -> pl.DataFrame:
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description or []]
    return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)
