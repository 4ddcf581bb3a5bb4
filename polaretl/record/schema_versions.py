"""Versions of a source's shape in ``polaretl.schema_versions``: drift, recorded.

`observe` runs on the first chunk of every slice, inside that batch's transaction (so
the version commits with the batch that showed it). It infers the chunk's column
families, compares them with the pipeline's last version and, on a change, writes the
next version: ``columns`` (name, type, a sketch of hashed values), ``added``,
``removed``, ``retyped``, ``renamed``, the ``run_id`` and the ``source`` (slice) where it
was seen. The first observation is version 1, the baseline (nothing added or removed).
A row with a ``run_id`` and a version above 1 is the schema-change event that alert
rules (``pe.SchemaChange()``) look for.

Slices of one run may observe concurrently (Celery workers): a transaction-scoped
advisory lock per pipeline serialises them, so one change is recorded once.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import polars as pl
from psycopg import sql

from polaretl.core import Chunk, Connection
from polaretl.record.rows import frame as _rows
from polaretl.record.rows import where as _filters
from polaretl.validate.drift import Drift, compare
from polaretl.validate.infer import infer_types, overlap, sketch


def observe(
    conn: Connection,
    pipeline: str,
    run_id: int,
    chunk: Chunk,
    slice: str,
    *,
    required: Collection[str] = (),
    named: Collection[str] | None = None,
) -> Drift | None:
    """Record the chunk's shape if it differs from the last version; return the drift
    (None when the chunk has no columns to judge, e.g. an empty file). `named`: the
    columns the pipeline's contract names; `required`: those of them the source must
    hold (an ``Optional[T]`` field may be absent)."""
    if not chunk.frame.columns:
        return None
    seen = infer_types(chunk.frame, chunk.null_values)
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"polaretl:schema:{pipeline}",),
        )
        last = latest(conn, pipeline)
        previous = {c["name"]: c["type"] for c in last[1]} if last else None
        sketches = {c["name"]: c.get("sketch", []) for c in last[1]} if last else {}
        drift = compare(
            previous,
            seen,
            required=set(required),
            named=set(named) if named is not None else None,
            overlap=lambda old, new: overlap(chunk.frame, new, sketches.get(old, [])),
        )
        if last is not None and not drift.changed:
            return drift
        columns = [
            {"name": name, "type": fam, "sketch": sketch(chunk.frame, name)}
            for name, fam in drift.columns.items()
        ]
        conn.execute(
            "INSERT INTO polaretl.schema_versions (pipeline, version, run_id, columns, added, "
            "removed, retyped, renamed, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                pipeline,
                (last[0] if last else 0) + 1,
                run_id,
                json.dumps(columns),
                json.dumps(drift.added),
                json.dumps(drift.removed),
                json.dumps(drift.retyped),
                json.dumps(drift.renamed),
                slice,
            ),
        )
    return drift


def latest(conn: Connection, pipeline: str) -> tuple[int, list[dict[str, Any]]] | None:
    """The pipeline's last version number and its columns, or None."""
    row = conn.execute(
        "SELECT version, columns FROM polaretl.schema_versions WHERE pipeline = %s "
        "ORDER BY version DESC LIMIT 1",
        (pipeline,),
    ).fetchone()
    return (int(row[0]), list(row[1])) if row else None


def history(
    conn: Connection, pipeline: str | None = None, *, run_id: int | None = None
) -> pl.DataFrame:
    """Recorded versions, oldest first (of `pipeline`, and/or those `run_id` wrote), as a
    frame with ``columns`` as ``name:type`` text and the changes as JSON text."""
    clauses: list[str] = ["TRUE"]
    params: list[object] = []
    if pipeline is not None:
        clauses.append("pipeline = %s")
        params.append(pipeline)
    if run_id is not None:
        clauses.append("run_id = %s")
        params.append(run_id)
    where = " AND ".join(clauses)
    cur = conn.execute(
        "SELECT pipeline, version, run_id, detected_at, source, "
        "(SELECT string_agg((c->>'name') || ':' || (c->>'type'), ', ' ORDER BY o) "
        " FROM jsonb_array_elements(columns) WITH ORDINALITY AS x(c, o)) AS columns, "
        "added::text AS added, removed::text AS removed, retyped::text AS retyped, "
        f"renamed::text AS renamed FROM polaretl.schema_versions WHERE {where} "
        "ORDER BY pipeline, version",
        params,
    )
    names = [d.name for d in cur.description or []]
    schema = {
        "pipeline": pl.String,
        "version": pl.Int64,
        "run_id": pl.Int64,
        "detected_at": pl.Datetime("us", "UTC"),
        "source": pl.String,
        **{n: pl.String for n in ("columns", "added", "removed", "retyped", "renamed")},
    }
    return pl.DataFrame(cur.fetchall(), schema=names, orient="row").cast(schema)  # type: ignore[arg-type]


def changes(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The versions run `run_id` recorded, but a first one (a baseline, not a change):
    ``version``, ``added``, ``removed``, ``retyped``, ``renamed``."""
    cur = conn.execute(
        "SELECT version, added, removed, retyped, renamed FROM polaretl.schema_versions "
        "WHERE run_id = %s AND version > 1 ORDER BY version",
        (run_id,),
    )
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def listing(
    conn: Connection, *, pipeline: str | None = None, run_id: int | None = None
) -> pl.DataFrame:
    """Recorded versions, newest first (JSON columns as text), for the ops app."""
    clause, params = _filters(pipeline=pipeline, run_id=run_id)
    statement = sql.SQL(
        "SELECT id, pipeline, version, run_id, detected_at, columns::text AS columns,"
        " added::text AS added, removed::text AS removed, retyped::text AS retyped,"
        " renamed::text AS renamed FROM polaretl.schema_versions {}"
        " ORDER BY pipeline, version DESC"
    ).format(clause)
    return _rows(conn, statement, params, empty_as_text=True)


def describe(row: dict[str, Any]) -> str:
    """One line for a version row of `history`.

    Example:
        >>> describe({"version": 2, "added": '[{"column": "x", "type": "text"}]',
        ...           "removed": "[]", "retyped": "[]", "renamed": "[]"})
        'added x (text)'
    """
    if row["version"] == 1:
        return "first version"
    drift = Drift(
        {},
        **{k: json.loads(row[k] or "[]") for k in ("added", "removed", "retyped", "renamed")},
    )
    return drift.summary()
