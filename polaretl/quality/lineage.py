"""Lineage: where a loaded row came from.

Every row polaretl loads carries ``_polaretl_run_id`` (the run that last wrote it),
``_polaretl_source`` (the source position: ``data/orders/a.csv:42``, a page URL, ...)
and ``_polaretl_loaded_at``. A row loaded by a replay has ``quarantine:<id>`` as its
source, which leads to the quarantine record: the run and position it was first
received at, and why it was rejected then.

`lineage` returns one step per row and origin, newest first:

| step | run_id, pipeline | source, position | at | quarantine_id, errors |
|---|---|---|---|---|
| ``loaded`` | the run that wrote the row | its source label, the line/offset | loaded at | (the record, if replayed) |
| ``quarantined`` | the run that rejected it | where it was received | rejected at | the record and its errors then |
"""  # noqa: E501 - a table

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from polaretl.core import Connection, qualified
from polaretl.errors import ConfigError, RecordError
from polaretl.record.lineage import steps as lineage_steps
from polaretl.record.quarantine import QUARANTINE_LABEL

STEP_SCHEMA = {
    "step": pl.String,
    "run_id": pl.Int64,
    "pipeline": pl.String,
    "executor": pl.String,
    "run_status": pl.String,
    "source": pl.String,
    "position": pl.String,
    "at": pl.Datetime("us", "UTC"),
    "quarantine_id": pl.Int64,
    "errors": pl.String,
}


def primary_key(conn: Connection, table: str) -> list[str]:
    """The table's primary key columns, in order (empty when it has none)."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (qualified(table).as_string(conn),),
    ).fetchall()
    return [str(r[0]) for r in rows]


def key_values(key: object, columns: Sequence[str], table: str) -> dict[str, object]:
    """`key` as {column: value}: a scalar, a tuple in key order, a mapping, or text
    ``"60"`` / ``"60,1"`` / ``"order_id=60,line=1"`` from the command line.

    Example:
        >>> key_values("60,1", ["order_id", "line"], "t")
        {'order_id': '60', 'line': '1'}
        >>> key_values({"order_id": 7}, ["order_id"], "t")
        {'order_id': 7}
    """
    if isinstance(key, Mapping):
        return {str(k): v for k, v in key.items()}
    if isinstance(key, str) and "=" in key:
        pairs = [part.split("=", 1) for part in key.split(",")]
        return {k.strip(): v.strip() for k, v in pairs}
    if isinstance(key, str) and len(columns) > 1:
        key = key.split(",")
    values = list(key) if isinstance(key, list | tuple) else [key]
    if not columns or len(values) != len(columns):
        raise ConfigError(
            f"Table {table} has primary key ({', '.join(columns) or 'none'}); give "
            f"{len(columns) or 'a'} value(s), or the key as column=value pairs."
        )
    return dict(zip(columns, values, strict=True))


def lineage(conn: Connection, table: str, key: object) -> pl.DataFrame:
    """The steps that produced the row(s) of `table` with `key` (see the module doc)."""
    exists = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (qualified(table).as_string(conn),)
    ).fetchone()
    if not exists or not exists[0]:
        raise ConfigError(f"There is no table {table} in this database.")
    types: dict[str, str] = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (qualified(table).as_string(conn),),
        ).fetchall()
    )
    if "_polaretl_run_id" not in types:
        raise ConfigError(f"Table {table} was not loaded by polaretl (no lineage columns).")
    wanted = key_values(key, primary_key(conn, table), table)
    unknown = [c for c in wanted if c not in types]
    if unknown:
        raise ConfigError(f"Table {table} has no column {', '.join(unknown)}.")
    rows = lineage_steps(conn, table, wanted, types)
    if not rows:
        shown = ", ".join(f"{c} = {v!r}" for c, v in wanted.items())
        raise RecordError(f"No row of {table} has {shown}.")
    frame = pl.DataFrame(
        [(*r[:6], _position(r[5]), *r[6:]) for r in rows],
        schema=list(STEP_SCHEMA),
        orient="row",
        infer_schema_length=None,
    )
    newest_first = [pl.col("step") == "quarantined", pl.col("at")]
    return frame.cast(STEP_SCHEMA).sort(newest_first, descending=[False, True])  # type: ignore[arg-type]


def _position(source: Any) -> str | None:
    """The position part of a source label: ``a.csv:42`` -> ``42``.

    Example:
        >>> _position("data/orders/a.csv:42"), _position("https://x/api?page=2")
        ('42', None)
    """
    if not isinstance(source, str) or source.startswith(QUARANTINE_LABEL) or ":" not in source:
        return None
    tail = source.rsplit(":", 1)[1]
    return tail if tail.isdigit() else None
