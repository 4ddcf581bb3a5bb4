"""Contract evolution: can the existing target take what the contract now produces?

`PostgresLoader.prepare` adds a new contract column to the target (nullable) by itself.
Any other difference is checked here, before the first batch, and an incompatible one
fails the run with the ``ALTER TABLE`` that makes the target fit (quoted, so it runs as
printed), instead of failing in the middle of a COPY or loading values that change:

- a column whose type cannot hold the contract's values unchanged (the contract narrowed
  ``amount`` from float to int: the column is ``double precision``, the contract's values
  are ``bigint``; or widened it: a ``bigint`` column for a float contract);
- a NOT NULL column the contract now allows null in, or no longer has;
- a primary key other than the loader's ``key`` (a changed key).

Accepted as is: the same type; a wider column that holds every value (``bigint`` for an
``integer`` contract, ``numeric``, ``timestamp`` for a date); ``text`` for anything; a
type polaretl does not map (``uuid``, ``jsonb``): PostgreSQL casts on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from psycopg import sql

from polaretl.core import Connection, qualified
from polaretl.errors import ConfigError
from polaretl.load.ddl import LINEAGE_COLUMNS, pg_type

# Target types that hold every value of the contract's type unchanged, besides itself
# and text; a known target type outside this list needs a migration.
_HOLDS: dict[str, set[str]] = {
    "smallint": {"integer", "bigint", "real", "double precision", "numeric"},
    "integer": {"bigint", "double precision", "numeric"},
    "bigint": {"numeric"},
    "real": {"double precision"},
    "date": {"timestamp without time zone", "timestamp with time zone"},
}
_KNOWN = {
    "smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean",
    "date", "timestamp without time zone", "timestamp with time zone",
    "time without time zone", "interval", "bytea",
}  # fmt: skip


def holds(have: str, want: str) -> bool:
    """Whether a target column of type `have` takes the contract's `want` values as is.

    Example:
        >>> holds("bigint", "integer"), holds("double precision", "bigint")
        (True, False)
        >>> holds("numeric(12,2)", "integer"), holds("text", "date"), holds("uuid", "text")
        (True, True, True)
    """
    base = have.split("(", 1)[0]
    if want == have or base in ("text", *_HOLDS.get(want, ())):
        return True
    if base.startswith("character"):
        return want == "text"
    return base not in _KNOWN


def check_columns(
    conn: Connection,
    table: str,
    data: dict[str, pl.DataType],
    existing: dict[str, str],
    key: Sequence[str],
    nullable: dict[str, bool],
) -> None:
    """Types and nullability of the target's columns against the contract's output.

    Args:
        data: the contract's output columns and dtypes.
        existing: the target's columns and PostgreSQL types (all of `data` included).
        nullable: the contract's nullability per column.
    """
    shown = _as_written(conn, table)
    for name, dtype in data.items():
        want, have = pg_type(dtype), existing[name]
        if holds(have, want):
            continue
        column = sql.Identifier(name).as_string(conn)
        raise ConfigError(
            f"Column {table}.{name} is {have} but the contract now makes it {dtype} "
            f"({want}), which the column cannot hold unchanged. Migrate it: ALTER TABLE "
            f"{shown} ALTER COLUMN {column} TYPE {want} USING {column}::{want}; "
            "(or restore the contract's type)."
        )
    not_null = {
        str(r[0])
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attnotnull AND NOT atthasdef",
            (qualified(table).as_string(conn),),
        ).fetchall()
    }
    for name in sorted(not_null - set(key) - set(LINEAGE_COLUMNS)):
        if name not in data:
            why = "the contract no longer has it"
        elif nullable.get(name, True):
            why = "the contract now allows null in it"
        else:
            continue
        column = sql.Identifier(name).as_string(conn)
        raise ConfigError(
            f"Column {table}.{name} is NOT NULL but {why}. Migrate it: ALTER TABLE "
            f"{shown} ALTER COLUMN {column} DROP NOT NULL; (or restore the contract)."
        )


def check_key(conn: Connection, table: str, key: Sequence[str], *, upsert: bool) -> None:
    """The target's primary key (or, for upsert, a unique index) must be `key`."""
    rows = conn.execute(
        "SELECT i.indisprimary, c.relname, (SELECT array_agg(a.attname::text ORDER BY "
        "  a.attname) FROM pg_attribute a WHERE a.attrelid = i.indrelid "
        "  AND a.attnum = ANY(i.indkey)) = (SELECT array_agg(k ORDER BY k) "
        "  FROM unnest(%s::text[]) k), (SELECT string_agg(a.attname, ', ' ORDER BY "
        "  array_position(i.indkey::int2[], a.attnum)) FROM pg_attribute a "
        "  WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND i.indisunique",
        (list(key), qualified(table).as_string(conn)),
    ).fetchall()
    if any(r[2] for r in rows):
        return
    cols, shown = ", ".join(key), _as_written(conn, table)
    quoted = sql.SQL(", ").join(map(sql.Identifier, key)).as_string(conn)
    primary = next((r for r in rows if r[0]), None)
    if primary is not None:
        constraint = sql.Identifier(str(primary[1])).as_string(conn)
        raise ConfigError(
            f"The key of {table} changed: its primary key is ({primary[3]}), the loader's "
            f"key is ({cols}). Run: ALTER TABLE {shown} DROP CONSTRAINT {constraint}, "
            f"ADD PRIMARY KEY ({quoted}); (or restore key=)."
        )
    if upsert:
        raise ConfigError(
            f"Table {table} has no primary key or unique index on ({cols}), which upsert "
            f"needs. Run: ALTER TABLE {shown} ADD PRIMARY KEY ({quoted});"
        )


def _as_written(conn: Connection, table: str) -> str:
    """The table as the user named it, quoted."""
    return sql.SQL(".").join(map(sql.Identifier, table.split(".", 1))).as_string(conn)
