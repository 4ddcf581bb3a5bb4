"""The types every stage shares, below all of them: what flows down the data path.

    extract ──Chunk──► validate ──Split──► transform ──► load (LoadContext, LoadResult)

A `Chunk` is what an extractor yields, a `Split` what a validator makes of it; a loader
writes a batch over a `Connection` with the run's `LoadContext` and returns a
`LoadResult`. `qualified` quotes the table names every stage that touches the
destination meets. Nothing here imports another polaretl module but the errors.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from polaretl.errors import ConfigError

Connection = psycopg.Connection[tuple[Any, ...]]

#: The per-row source label column of valid rows (``data/orders/a.csv:42``).
SOURCE_COLUMN = "_polaretl_source"

#: Columns of `Chunk.rejects` and of quarantined rows.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "raw": pl.String(),  # JSON text: the record exactly as received
    "errors": pl.String(),  # JSON text: a list of {column, check, value, message}
}


@dataclass
class Chunk:
    """One chunk of a slice, as received from the source.

    Args:
        frame: the records; text sources keep every column as text (the contract
            casts), so a bad value becomes a quarantined row rather than a crash.
        source: a label for the chunk, e.g. ``data/orders/a.csv`` or a URL page.
        position: JSON-serialisable state after this chunk; a later run passes it back
            to `Extractor.read` to resume. Include a fingerprint of the source if a
            changed source must be read again.
        sources: optional per-row source labels (``a.csv:17``), one per frame row;
            `source` is used for every row when absent.
        rejects: records that could not be parsed (see `REJECT_SCHEMA`).
        null_values: text values that mean null (``""``, ``"NA"``); applied by the
            contract, so the quarantined raw record still shows what was received.
        bytes_read: bytes consumed from the source for this chunk (metrics only).
        nested: columns at which some records held an object rather than a value (an
            object a JSON source flattened into ``column_key`` columns): column -> one
            boolean per frame row. A contract that names such a column quarantines
            those rows ("the source holds an object here") instead of reading null.
    """

    frame: pl.DataFrame
    source: str
    position: dict[str, Any]
    sources: pl.Series | None = None
    rejects: pl.DataFrame | None = None
    null_values: Sequence[str] = ()
    bytes_read: int = 0
    received: int = field(default=-1)
    nested: dict[str, pl.Series] | None = None

    def __post_init__(self) -> None:
        if self.sources is not None and len(self.sources) != self.frame.height:
            raise ConfigError(
                f"Chunk {self.source!r}: sources has {len(self.sources)} labels for "
                f"{self.frame.height} rows; an extractor gives one label per row (or none)."
            )
        if self.received < 0:
            self.received = self.frame.height + (
                self.rejects.height if self.rejects is not None else 0
            )

    def source_labels(self) -> pl.Series:
        """Per-row source labels, filled from `source` when the extractor gave none."""
        if self.sources is not None:
            return self.sources.cast(pl.String).alias(SOURCE_COLUMN)
        return pl.repeat(self.source, self.frame.height, dtype=pl.String, eager=True).alias(
            SOURCE_COLUMN
        )


@dataclass
class Split:
    """The two halves of a chunk.

    Attributes:
        valid: typed rows ready to transform and load, with a `_polaretl_source` column.
        quarantined: rows that failed, as ``source``, ``raw`` (JSON text of the record as
            received) and ``errors`` (JSON text: a list of {column, check, value, message}).
    """

    valid: pl.DataFrame
    quarantined: pl.DataFrame


class OnDuplicate(enum.StrEnum):
    """What happens to a key that comes again later in the same run."""

    LAST = "last"  # the last copy wins (upsert); repeats are counted
    QUARANTINE = "quarantine"  # the first copy is loaded, later ones are quarantined


#: Claims keys for a run: ``(conn, run_id, staging table, key columns, row-number column)
#: -> row numbers of the staged rows whose key the run had already claimed`` (they are
#: deleted from the staging table). The run provides it (`polaretl.record.run_keys`).
KeyClaim = Callable[[Connection, int, str, Sequence[str], str], list[int]]


@dataclass
class LoadContext:
    """What a loader knows about the run whose batches it loads; one per run and process.

    Attributes:
        run_id: the run (lineage column ``_polaretl_run_id``).
        pipeline: the pipeline's name.
        nullable: column nullability the contract declares.
        url: the destination, for a loader's side connections (None: use `conn` only).
        on_duplicate: the pipeline's policy for keys repeated across batches (None: the
            loader's own).
        claim_keys: claims keys for the run, under ``on_duplicate="quarantine"``.
        state: what the loader's `prepare` learnt for the run's batches (the loader
            itself is configuration, shared by runs).
    """

    run_id: int
    pipeline: str
    nullable: dict[str, bool] = field(default_factory=dict)
    url: str | None = None
    on_duplicate: OnDuplicate | None = None
    claim_keys: KeyClaim | None = None
    state: object = None


@dataclass
class LoadResult:
    """What a loader did with one batch.

    Attributes:
        loaded: rows the target accepted.
        written: rows actually written (rows identical to what the target held are not
            rewritten).
        deduplicated: in-batch duplicates collapsed last-wins.
        refused: rows not loaded under ``on_duplicate="quarantine"`` (the loaded
            frame's columns, lineage source included), for the batch's quarantine.
        repeats: rows whose key an earlier batch of this run had loaded.
        key: the key columns `refused` and `repeats` are about.
    """

    loaded: int
    written: int
    deduplicated: int = 0
    refused: pl.DataFrame | None = None
    repeats: int = 0
    key: tuple[str, ...] = ()


def qualified(table: str) -> sql.Composed:
    """``schema.table`` (or ``table``) as a quoted identifier.

    Example:
        >>> qualified('raw.orders').as_string(None)
        '"raw"."orders"'
    """
    return sql.SQL(".").join(sql.Identifier(p) for p in split_table(table))


def split_table(table: str) -> tuple[str, str]:
    """``("schema", "table")``; a bare name is in ``public``."""
    if "." in table:
        schema, name = table.split(".", 1)
        return schema, name
    return "public", table
