"""The batch commit: what one batch's transaction holds besides its rows.

Keys repeated across the batches of a run (``on_duplicate``): the loader counts them
(``on_duplicate="last"``, `polaretl.load.repeats`) or refuses every copy after the first
(``"quarantine"``, claimed in `polaretl.record.run_keys`). Either way the counts go to the
run's metrics (``run_duplicates``: rows whose key an earlier batch of the run had loaded;
``duplicates_quarantined``: rows quarantined by the policy), and refused rows join the
batch's quarantine (`absorb`), with their raw record.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from polaretl.core import REJECT_SCHEMA, SOURCE_COLUMN, Chunk, Connection, LoadContext, LoadResult
from polaretl.record import runs

CHECK = "run_uniqueness"


def absorb(
    conn: Connection, ctx: LoadContext, chunk: Chunk, quarantined: pl.DataFrame, result: LoadResult
) -> tuple[pl.DataFrame, int]:
    """The batch's quarantine with the rows the loader refused added, and how many.

    Called in the batch's transaction right after the load; also adds the batch's
    repeat counts to the run's metrics.
    """
    refused = result.refused
    moved = refused.height if refused is not None else 0
    repeats = result.repeats
    if repeats or moved:
        runs.add_metrics(conn, ctx.run_id, run_duplicates=repeats, duplicates_quarantined=moved)
    if refused is None or moved == 0:
        return quarantined, 0
    key = list(result.key)
    records = refused_records(chunk, refused, key)
    return (pl.concat([quarantined, records]) if quarantined.height else records), moved


def refused_records(chunk: Chunk, refused: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Quarantine rows (``source``, ``raw``, ``errors``) for refused repeats.

    The raw record is the chunk's row with the same source label when that label is
    unique in the chunk (file and line: CSV, XML, ...); otherwise the row as it would
    have been loaded.

    Example:
        >>> chunk = Chunk(pl.DataFrame({"id": ["7"], "x": ["a"]}), "f.csv", {},
        ...               sources=pl.Series(["f.csv:2"]))
        >>> rows = pl.DataFrame({"id": [7], "x": ["a"], "_polaretl_source": ["f.csv:2"]})
        >>> refused_records(chunk, rows, ["id"]).row(0)[1:]  # doctest: +NORMALIZE_WHITESPACE
        ('{"id":"7","x":"a"}', '[{"column":"id","check":"run_uniqueness","value":"7",\
"message":"id 7 was already loaded earlier in this run"}]')
    """
    labels = chunk.source_labels()
    raw_columns = chunk.frame.columns
    unique_labels = (
        labels.to_frame().group_by(SOURCE_COLUMN).len().filter(pl.col("len") == 1).drop("len")
    )
    originals = (
        chunk.frame.with_columns(labels)
        .join(unique_labels, on=SOURCE_COLUMN, how="semi")
        .select(
            SOURCE_COLUMN,
            (pl.struct(raw_columns).struct.json_encode() if raw_columns else pl.lit("{}")).alias(
                "_raw"
            ),
        )
    )
    data = [c for c in refused.columns if c != SOURCE_COLUMN]
    if SOURCE_COLUMN not in refused.columns:
        refused = refused.with_columns(pl.lit(None, pl.String).alias(SOURCE_COLUMN))
    value: Any = (
        pl.col(key[0]).cast(pl.String)
        if len(key) == 1
        else pl.concat_str(
            pl.lit("("),
            pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=", "),
            pl.lit(")"),
        )
    )
    name = key[0] if len(key) == 1 else f"({', '.join(key)})"
    error = pl.struct(
        column=pl.lit(name),
        check=pl.lit(CHECK),
        value=value,
        message=pl.concat_str(
            pl.lit(f"{name} "), value, pl.lit(" was already loaded earlier in this run")
        ),
    )
    return (
        refused.join(originals, on=SOURCE_COLUMN, how="left", maintain_order="left")
        .select(
            pl.col(SOURCE_COLUMN).fill_null(chunk.source).alias("source"),
            pl.coalesce("_raw", pl.struct(data).struct.json_encode()).alias("raw"),
            pl.concat_str(pl.lit("["), error.struct.json_encode(), pl.lit("]")).alias("errors"),
        )
        .cast(REJECT_SCHEMA)  # type: ignore[arg-type]
    )
