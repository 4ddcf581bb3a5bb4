"""Quarantined records in ``polaretl.quarantine``: written by COPY in the batch's
transaction, read back as Polars frames."""

from __future__ import annotations

import polars as pl
from psycopg import sql

from polaretl.load.base import Connection


def write(conn: Connection, frame: pl.DataFrame, *, run_id: int, pipeline: str, slice: str) -> int:
    """COPY quarantined rows (``source``, ``raw``, ``errors``) in the open transaction.

    The frame goes over as CSV text (jsonb parses its text form), in one COPY: no
    per-row statements even when a whole chunk is rejected.
    """
    if frame.height == 0:
        return 0
    payload = frame.select(
        pl.lit(run_id, dtype=pl.Int64).alias("run_id"),
        pl.lit(pipeline).alias("pipeline"),
        pl.lit(slice).alias("slice"),
        "source",
        # PostgreSQL text cannot hold NUL; jsonb would reject the escape too
        pl.col("raw").str.replace_all("\\u0000", "\\ufffd", literal=True),
        pl.col("errors").str.replace_all("\\u0000", "\\ufffd", literal=True),
    ).write_csv(include_header=False, null_value="")
    statement = sql.SQL(
        "COPY polaretl.quarantine (run_id, pipeline, slice, source, raw, errors) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(payload.encode("utf-8"))
    return frame.height


def read(
    conn: Connection,
    pipeline: str | None = None,
    *,
    status: str | None = "pending",
    run_id: int | None = None,
) -> pl.DataFrame:
    """Quarantined records as a frame (``raw`` and ``errors`` as JSON text)."""
    where = [sql.SQL("TRUE")]
    params: list[object] = []
    if pipeline is not None:
        where.append(sql.SQL("pipeline = %s"))
        params.append(pipeline)
    if status is not None:
        where.append(sql.SQL("status = %s"))
        params.append(status)
    if run_id is not None:
        where.append(sql.SQL("run_id = %s"))
        params.append(run_id)
    query = sql.SQL(
        "SELECT id, run_id, pipeline, slice, source, raw::text AS raw, errors::text AS errors, "
        "status, created_at FROM polaretl.quarantine WHERE {} ORDER BY id"
    ).format(sql.SQL(" AND ").join(where))
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description or []]
    return pl.DataFrame(cur.fetchall(), schema=names, orient="row", infer_schema_length=None)
