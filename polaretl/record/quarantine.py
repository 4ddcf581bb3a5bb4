"""Quarantined records in ``polaretl.quarantine``: written by COPY in the batch's
transaction, read back as Polars frames, and moved through their lifecycle:

    pending --replay (loaded)--> replayed      (replay_run_id: the run that loaded it)
    pending --replay (invalid)--> pending      (errors: the new reasons)
    pending --discard (reason)--> discarded    (discard_reason)
    pending --received again--> discarded      (superseded by the newer copy, which is
                                                pending: one pending copy per record)

``raw`` is never changed: it is the record as received (a value PostgreSQL cannot store,
NUL, a lone surrogate or bytes that are not UTF-8, is kept with backslash escapes that
`polaretl.extract.storable.unescape` reverses, its column named by an error of check
``nul_byte`` or ``encoding``). A correction (an edited export,
or the Python API) is kept in ``corrected``, and replay reads ``coalesce(corrected, raw)``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence

import polars as pl
from psycopg import sql

from polaretl.core import Connection
from polaretl.errors import ConfigError
from polaretl.extract.storable import storable_json
from polaretl.record.rows import frame as _rows
from polaretl.record.rows import where as _filters


class QuarantineStatus(enum.StrEnum):
    """A quarantined record's ``status`` (stored as this text)."""

    PENDING = "pending"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


STATUSES = tuple(QuarantineStatus)

#: The source label of a row a replay loaded: ``quarantine:<id>`` names its record.
QUARANTINE_LABEL = "quarantine:"

# a record as it stands: its correction, else as received
_VALUE = sql.SQL("coalesce(q.corrected, q.raw)")
# a raw record holding escaped text, not corrected
_ESCAPED = sql.SQL("""(q.corrected IS NULL AND q.errors @> '[{"escaped": true}]')""")
# every error of a quarantined record, whatever shape `errors` has (a list, or one object)
_ERRORS = sql.SQL(
    "jsonb_array_elements(CASE WHEN jsonb_typeof(q.errors) = 'array' THEN q.errors "
    "ELSE jsonb_build_array(q.errors) END)"
)


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
    # jsonb cannot hold a NUL or a lone surrogate: escaped by the rule of
    # polaretl.extract.storable (reversible, the escaped column named in errors)
    rows = storable_json(frame.select("source", "raw", "errors")).select(
        pl.lit(run_id, dtype=pl.Int64).alias("run_id"),
        pl.lit(pipeline).alias("pipeline"),
        pl.lit(slice).alias("slice"),
        "source",
        "raw",
        "errors",
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
    return _rows(conn, query, params)


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
    return _rows(conn, query, params)


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


def as_exported(conn: Connection, clause: sql.Composable, params: list[object]) -> pl.DataFrame:
    """The selected records (`where`) as ``id``, ``raw`` (the text of a record that was
    never parsed, else null), ``errors`` (JSON text), ``source``, ``run_id``, by id."""
    return _rows(
        conn,
        sql.SQL(
            "SELECT q.id, CASE WHEN jsonb_typeof({v}) = 'object' THEN NULL ELSE {v} #>> '{{}}' "
            "END AS raw, q.errors::text AS errors, q.source, q.run_id FROM polaretl.quarantine q "
            "WHERE {w} ORDER BY q.id"
        ).format(v=_VALUE, w=clause),
        params,
    )


def parsed(conn: Connection, clause: sql.Composable, params: list[object]) -> pl.DataFrame:
    """``id`` and ``parsed`` (whether the record as it stands has fields a replay can run)
    of the selected records. A raw record holding escaped text (a NUL, bytes that are not
    UTF-8: see polaretl.extract.storable) runs only once corrected: as it is, it would load
    the escapes."""
    rows = conn.execute(
        sql.SQL(
            "SELECT q.id, jsonb_typeof({v}) = 'object' AND {escaped} IS NOT TRUE "
            "FROM polaretl.quarantine q WHERE {w}"
        ).format(v=_VALUE, escaped=_ESCAPED, w=clause),
        params,
    ).fetchall()
    return pl.DataFrame(rows, schema={"id": pl.Int64, "parsed": pl.Boolean}, orient="row")


def fields(
    conn: Connection, clause: sql.Composable, params: list[object], *, id_column: str = "id"
) -> pl.DataFrame:
    """`id_column` and one text column per field of the selected records as they stand
    (flattened by ``jsonb_each_text`` in PostgreSQL, pivoted by Polars: no loop over
    records)."""
    query = sql.SQL(
        "COPY (SELECT q.id, kv.key, kv.value FROM polaretl.quarantine q "
        "CROSS JOIN LATERAL jsonb_each_text({v}) kv "
        "WHERE jsonb_typeof({v}) = 'object' AND {w} ORDER BY q.id) TO STDOUT (FORMAT csv)"
    ).format(v=_VALUE, w=clause)
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        data = b"".join(bytes(block) for block in copy)
    schema = {id_column: pl.Int64, "key": pl.String, "value": pl.String}
    if not data:
        return pl.DataFrame(schema={id_column: pl.Int64})
    long = pl.read_csv(data, has_header=False, new_columns=list(schema), schema=schema)
    return long.pivot(on="key", index=id_column, values="value", aggregate_function="first")


def field_names(conn: Connection, clause: sql.Composable, params: list[object]) -> list[str]:
    """Every field name of the selected records as they stand, sorted."""
    rows = conn.execute(
        sql.SQL(
            "SELECT DISTINCT k FROM polaretl.quarantine q CROSS JOIN LATERAL "
            "jsonb_object_keys({v}) k WHERE jsonb_typeof({v}) = 'object' AND {w} ORDER BY 1"
        ).format(v=_VALUE, w=clause),
        params,
    ).fetchall()
    return [str(r[0]) for r in rows]


def replayed_by(conn: Connection, run_id: int) -> int:
    """How many records run `run_id` (a replay) loaded."""
    got = conn.execute(
        "SELECT count(*) FROM polaretl.quarantine WHERE replay_run_id = %s", (run_id,)
    ).fetchone()
    return int(got[0]) if got else 0


def reasons_of_run(conn: Connection, run_id: int) -> list[tuple[str | None, str, int]]:
    """(column, check, count) of the errors of the records run `run_id` rejected."""
    rows = conn.execute(
        "SELECT e->>'column' AS col, e->>'check' AS chk, count(*) FROM "
        "polaretl.quarantine q, jsonb_array_elements(q.errors) e WHERE q.run_id = %s "
        "GROUP BY 1, 2 ORDER BY 3 DESC",
        (run_id,),
    ).fetchall()
    return [(c, str(k), int(n)) for c, k, n in rows]


# -- what the ops app shows -----------------------------------------------------------


def rejections(
    conn: Connection, *, run_id: int | None = None, pipeline: str | None = None
) -> pl.DataFrame:
    """Rejections by column and check (the ``polaretl.rejections`` view)."""
    clause, params = _filters(run_id=run_id, pipeline=pipeline)
    statement = sql.SQL(
        'SELECT "column", "check", sum(count)::bigint AS count FROM polaretl.rejections {}'
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).format(clause)
    return _rows(conn, statement, params, empty_as_text=True)


def reasons_with_example(
    conn: Connection, *, pipeline: str | None = None, status: str | None = "pending"
) -> pl.DataFrame:
    """Records by reason (column and check): how many, and one example message."""
    clause, params = _filters(pipeline=pipeline, status=status)
    statement = sql.SQL(
        "SELECT e->>'column' AS \"column\", e->>'check' AS \"check\","
        " count(DISTINCT q.id) AS records, min(e->>'message') AS example"
        " FROM polaretl.quarantine q CROSS JOIN LATERAL {errors} AS e {where}"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
    ).format(errors=_ERRORS, where=clause)
    return _rows(conn, statement, params, empty_as_text=True)


def for_review(
    conn: Connection,
    *,
    pipeline: str | None = None,
    status: str | None = "pending",
    run_id: int | None = None,
    reason: tuple[str | None, str] | None = None,
    limit: int = 1000,
) -> pl.DataFrame:
    """Records (newest first) with their messages, raw record and errors; `reason`:
    (column, check) keeps records with such an error."""
    clause, params = _filters(pipeline=pipeline, status=status, run_id=run_id)
    if reason is not None:
        clause = clause + sql.SQL(
            " AND EXISTS (SELECT 1 FROM {errors} AS e"
            " WHERE e->>'column' IS NOT DISTINCT FROM %s AND e->>'check' = %s)"
        ).format(errors=_ERRORS)
        params.extend(reason)
    statement = sql.SQL(
        "SELECT id, run_id, pipeline, source, status, created_at,"
        " (SELECT string_agg(e->>'message', '; ') FROM {errors} AS e) AS messages,"
        " raw::text AS raw, errors::text AS errors, discard_reason, replay_run_id"
        " FROM polaretl.quarantine q {where} ORDER BY id DESC LIMIT %s"
    ).format(errors=_ERRORS, where=clause)
    return _rows(conn, statement, [*params, limit], empty_as_text=True)
