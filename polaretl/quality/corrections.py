"""Quarantined records as editable rows, and corrections read back.

The export layout has one text column per raw field (the source's columns, in the order
of its last recorded schema version, then any others), and ``_quarantine_*`` columns:

- ``_quarantine_id``: the record's id; keep it, replay matches corrections by it;
- the fields: the record as received (or as last corrected); edit these;
- ``_quarantine_raw``: the text of a record that could not be parsed (a CSV line with a
  wrong field count); fill the field columns from it to correct it;
- ``_quarantine_errors`` (JSON), ``_quarantine_source``, ``_quarantine_run_id``: why,
  where and when it was rejected.

Fields are flattened in PostgreSQL (``jsonb_each_text``) and pivoted by Polars: no loop
over records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from polaretl.core import Connection
from polaretl.errors import ConfigError
from polaretl.record import quarantine, schema_versions
from polaretl.record.quarantine import QuarantineStatus

ID = "_quarantine_id"
RAW = "_quarantine_raw"
META = (ID, RAW, "_quarantine_errors", "_quarantine_source", "_quarantine_run_id")
FORMATS = ("csv", "parquet")


def export_frame(
    conn: Connection,
    pipeline: str,
    *,
    status: str | None = QuarantineStatus.PENDING,
    run_id: int | None = None,
    column: str | None = None,
    check: str | None = None,
    ids: list[int] | None = None,
) -> pl.DataFrame:
    """The selected records in the export layout."""
    clause, params = quarantine.where(
        pipeline, status=status, run_id=run_id, column=column, check=check, ids=ids
    )
    meta = (
        quarantine.as_exported(conn, clause, params)
        .rename(dict(zip(["id", "raw", "errors", "source", "run_id"], META, strict=True)))
        .cast(
            {ID: pl.Int64, RAW: pl.String, **{m: pl.String for m in META[2:4]}, META[4]: pl.Int64}
        )
    )
    wide = quarantine.fields(conn, clause, params, id_column=ID)
    order = [c["name"] for c in (schema_versions.latest(conn, pipeline) or (0, []))[1]]
    names = [n for n in order if n not in META] + [
        n for n in wide.columns if n != ID and n not in order
    ]
    return meta.join(wide, on=ID, how="left", maintain_order="left").select(
        ID,
        *[pl.col(n) if n in wide.columns else pl.lit(None, pl.String).alias(n) for n in names],
        *META[1:],
    )


def write(frame: pl.DataFrame, path: str | Path, fmt: str = "csv") -> Path:
    """Write an export; CSV keeps every value as text (an empty cell reads back as null)."""
    if fmt not in FORMATS:
        raise ConfigError(f"Export format {fmt!r} is unknown: use csv or parquet.")
    out = Path(path)
    if fmt == "parquet":
        frame.write_parquet(out)
    else:
        frame.write_csv(out)
    return out


def read(path: str | Path) -> pl.DataFrame:
    """An (edited) export, every field as text; it must keep ``_quarantine_id``."""
    source = Path(path)
    if not source.exists():
        raise ConfigError(f"No file {source}: give the export you corrected.")
    if source.suffix.lower() == ".parquet":
        frame = pl.read_parquet(source)
    else:
        frame = pl.read_csv(source, infer_schema=False)
    if ID not in frame.columns:
        raise ConfigError(
            f"{source} has no {ID} column: replay matches corrected rows to quarantined "
            "records by it. Start from `polaretl quarantine export`."
        )
    fields = [c for c in frame.columns if c not in META]
    return frame.select(
        pl.col(ID).cast(pl.Int64), *[pl.col(c).cast(pl.String) for c in fields]
    ).filter(pl.col(ID).is_not_null())


@dataclass
class ReplayInput:
    """What a replay reads: the ids of the records to run, the corrections to store
    before it reads them (id + JSON), and counts of what it leaves alone."""

    ids: list[int]
    corrections: pl.DataFrame
    needs_correction: int
    skipped: int


def replay_input(
    conn: Connection,
    pipeline: str,
    *,
    run_id: int | None = None,
    ids: list[int] | None = None,
    corrected: pl.DataFrame | None = None,
) -> ReplayInput:
    """The pending records a replay runs: those `corrected` corrects (an edited export:
    rows whose fields are all empty are not corrections), else those of the database that
    can run (a record that was never parsed and has no correction cannot, and is counted
    in `needs_correction`).
    """
    clause, params = quarantine.where(pipeline, run_id=run_id, ids=ids)
    pending = quarantine.parsed(conn, clause, params).rename({"id": ID})
    if corrected is None:
        runnable = pending.filter("parsed")
        empty = pl.DataFrame(schema={"id": pl.Int64, "corrected": pl.String})
        return ReplayInput(
            sorted(runnable[ID].to_list()), empty, pending.height - runnable.height, 0
        )
    fields = [c for c in corrected.columns if c not in META]
    corrected = corrected.select(pl.col(ID).cast(pl.Int64), pl.col(fields).cast(pl.String))
    edited = corrected.filter(
        pl.any_horizontal([pl.col(c).fill_null("").str.strip_chars() != "" for c in fields])
        if fields
        else pl.lit(False)
    )
    records = edited.join(pending.select(ID), on=ID, how="semi", maintain_order="left")
    # rows with nothing filled in are left pending for another replay (unparsed ones
    # have no fields until someone fills them from _quarantine_raw)
    needs = corrected.join(edited.select(ID), on=ID, how="anti").join(
        pending.select(ID), on=ID, how="semi"
    )
    store = records.select(
        pl.col(ID).alias("id"),
        (pl.struct(fields).struct.json_encode() if fields else pl.lit("{}")).alias("corrected"),
    )
    return ReplayInput(
        sorted(records[ID].to_list()), store, needs.height, edited.height - records.height
    )
