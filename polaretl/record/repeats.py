"""Keys repeated across the batches of a run: ``on_duplicate`` and its records.

Under ``on_duplicate="quarantine"`` the first occurrence of a key in a run is loaded and
every later one is quarantined, whatever batch or slice (or worker) it comes in. The
target table cannot tell on its own: an upsert leaves a row identical to what an
earlier run loaded untouched (it keeps that run's ``_polaretl_run_id``), so the run's
keys are claimed in ``polaretl.run_keys``, in the batch's transaction.
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` claims them atomically: two slices
committing the same key at once serialise on the primary key and only the first gets it.

Under ``on_duplicate="last"`` nothing is written there: the loader counts repeats in
memory (`polaretl.load.repeats.Seen`).

Either way the counts go to the run's metrics (``run_duplicates``: rows whose key an
earlier batch of the run had loaded; ``duplicates_quarantined``: rows quarantined by the
policy), and refused rows join the batch's quarantine (`absorb`), with their raw record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from psycopg import sql

from polaretl.core import REJECT_SCHEMA, SOURCE_COLUMN, Chunk, Connection, LoadContext, LoadResult

CHECK = "run_uniqueness"


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
        add_metrics(conn, ctx.run_id, run_duplicates=repeats, duplicates_quarantined=moved)
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


def add_metrics(conn: Connection, run_id: int, **counts: int) -> None:
    """Add `counts` to the run's ``metrics`` (jsonb), inside the batch's transaction."""
    pairs = sql.SQL(", ").join(
        sql.SQL("{name}, coalesce((metrics->>{name})::bigint, 0) + {n}").format(
            name=sql.Literal(name), n=sql.Literal(n)
        )
        for name, n in counts.items()
    )
    conn.execute(
        sql.SQL(
            "UPDATE polaretl.runs SET metrics = metrics || jsonb_build_object({}) WHERE run_id = %s"
        ).format(pairs),
        (run_id,),
    )
