"""Polars dtypes to PostgreSQL types, and the target table's DDL.

The PostgreSQL types here are the ones the binary COPY encoder (pgpq) emits for the
matching Arrow types, so a table polaretl creates accepts binary COPY as is.
"""

from __future__ import annotations

import polars as pl
from psycopg import sql

from polaretl.core import qualified
from polaretl.errors import ConfigError

LINEAGE_COLUMNS: dict[str, str] = {
    "_polaretl_run_id": "bigint NOT NULL",
    "_polaretl_source": "text",
    "_polaretl_loaded_at": "timestamptz NOT NULL DEFAULT now()",
}


#: PostgreSQL keeps the first 63 bytes of a longer identifier (NAMEDATALEN - 1), silently.
MAX_IDENTIFIER_BYTES = 63


def check_identifier(name: str, what: str, fix: str) -> None:
    """Refuse a name PostgreSQL would not keep as given: longer than 63 bytes (it would
    be cut, silently), empty, or holding a NUL character.

    Example:
        >>> check_identifier("é" * 31, "Column", "Rename it.")
        >>> check_identifier("é" * 32, "Column", "Rename it.")
        Traceback (most recent call last):
        ...
        polaretl.errors.ConfigError: Column 'éééééééééééééééééééééééééééééééé' is 64 bytes \
long (UTF-8); PostgreSQL keeps only the first 63 bytes of a name and would cut it \
silently. Rename it.
    """
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise ConfigError(
            f"{what} {name!r} is {size} bytes long (UTF-8); PostgreSQL keeps only the first "
            f"{MAX_IDENTIFIER_BYTES} bytes of a name and would cut it silently. {fix}"
        )
    if not name or "\x00" in name:
        raise ConfigError(f"{what} {name!r} cannot be a PostgreSQL name (empty or NUL). {fix}")


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast dtypes that have no PostgreSQL twin to ones that do (Int8 -> Int16, ...)."""
    casts: dict[str, pl.DataType] = {}
    for name, dtype in frame.schema.items():
        target = _wire_dtype(dtype)
        if target is not None:
            casts[name] = target
    return frame.cast(casts) if casts else frame  # type: ignore[arg-type]


def _wire_dtype(dtype: pl.DataType) -> pl.DataType | None:
    if isinstance(dtype, pl.Int8 | pl.UInt8):
        return pl.Int16()
    if isinstance(dtype, pl.UInt16):
        return pl.Int32()
    if isinstance(dtype, pl.UInt32 | pl.UInt64):
        return pl.Int64()
    if isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
        return pl.String()
    if isinstance(dtype, pl.Datetime) and dtype.time_unit != "us":
        return pl.Datetime("us", dtype.time_zone)
    return None


def pg_type(dtype: pl.DataType) -> str:
    """The PostgreSQL type polaretl uses for a Polars dtype.

    Example:
        >>> pg_type(pl.Int64()), pg_type(pl.Datetime("us", "UTC")), pg_type(pl.Decimal(12, 2))
        ('bigint', 'timestamp with time zone', 'numeric(12,2)')
    """
    wire = _wire_dtype(dtype) or dtype
    if isinstance(wire, pl.Int16):
        return "smallint"
    if isinstance(wire, pl.Int32):
        return "integer"
    if isinstance(wire, pl.Int64):
        return "bigint"
    if isinstance(wire, pl.Float32):
        return "real"
    if isinstance(wire, pl.Float64):
        return "double precision"
    if isinstance(wire, pl.String):
        return "text"
    if isinstance(wire, pl.Boolean):
        return "boolean"
    if isinstance(wire, pl.Date):
        return "date"
    if isinstance(wire, pl.Datetime):
        return "timestamp with time zone" if wire.time_zone else "timestamp without time zone"
    if isinstance(wire, pl.Time):
        return "time without time zone"
    if isinstance(wire, pl.Duration):
        return "interval"
    if isinstance(wire, pl.Decimal):
        return f"numeric({wire.precision},{wire.scale})" if wire.precision else "numeric"
    if isinstance(wire, pl.Binary):
        return "bytea"
    raise ConfigError(
        f"polaretl cannot load a {dtype} column into PostgreSQL; turn it into text "
        "(e.g. JSON) or scalar columns in a transform."
    )


def create_table(
    table: str, schema: pl.Schema, key: list[str], nullable: dict[str, bool]
) -> sql.Composed:
    """``CREATE TABLE IF NOT EXISTS`` for the target: data columns, lineage, primary key."""
    cols = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(name),
            sql.SQL(pg_type(dtype)),
            sql.SQL("" if nullable.get(name, True) and name not in key else " NOT NULL"),
        )
        for name, dtype in schema.items()
        if name not in LINEAGE_COLUMNS
    ]
    cols += [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(spec))
        for name, spec in LINEAGE_COLUMNS.items()
    ]
    if key:
        cols.append(
            sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key)))
        )
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        qualified(table), sql.SQL(", ").join(cols)
    )
