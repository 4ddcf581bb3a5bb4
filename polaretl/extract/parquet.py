"""`ParquetExtractor`: a glob of Parquet files, one slice per file, typed columns.

Parquet is already typed, so columns keep their types (the contract casts where it
needs to). A file is read a batch of at most ``chunk_size`` rows at a time with
``pyarrow.parquet.ParquetFile.iter_batches``, which decodes one row group at a time:
memory is bounded by a row group plus a chunk, whatever the file's size.

The position's ``offset`` counts the rows consumed; ``row_group`` is the row group
holding the next row (for people reading checkpoints). A resumed read starts at that
row group and skips the rows of it already committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from polaretl.errors import ExtractError
from polaretl.extract import storage
from polaretl.extract.base import Chunk, reject_frame
from polaretl.extract.columns import repeated_names, unmapped
from polaretl.extract.files import FileExtractor, fingerprint, resume_offset
from polaretl.extract.storable import fault


class ParquetExtractor(FileExtractor):
    """Read Parquet files in chunks of rows, typed, resumable per file.

    Args:
        path: a glob of files (``data/exports/*.parquet``) or a list of globs.
        columns: read only these columns (default: all).
        missing_ok: succeed with nothing to do when no file matches (default: fail).

    Example:
        >>> ParquetExtractor("data/exports/*.parquet").describe()
        'parquet:data/exports/*.parquet'
    """

    kind = "parquet"

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        columns: Sequence[str] | None = None,
        missing_ok: bool = False,
    ) -> None:
        super().__init__(path, missing_ok=missing_ok)
        self.columns = list(columns) if columns is not None else None

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        """Yield the rows of the file `slice`, resuming after ``state["offset"]`` rows."""
        fp = fingerprint(slice)
        start = resume_offset(state, fp)
        if start is None:
            return
        try:
            with pq.ParquetFile(storage.arrow_input(slice)) as parquet:
                yield from self._chunks(parquet, slice, fp, start, max(1, chunk_size))
        except (pa.ArrowException, OSError) as exc:
            raise ExtractError(
                f"Cannot read the Parquet file {slice}: {str(exc).rstrip('.')}. Check that it "
                "is a complete Parquet file (not still being written) and that the columns "
                "asked for exist.",
                path=slice,
            ) from exc

    def _chunks(
        self, parquet: pq.ParquetFile, path: str, fp: str, start: int, chunk_size: int
    ) -> Iterator[Chunk]:
        if self.columns is not None:
            names = parquet.schema_arrow.names
            missing = [name for name in self.columns if name not in names]
            if missing:
                raise ExtractError(
                    f"{path} has no column {', '.join(map(repr, missing))}; its columns are "
                    f"{', '.join(names)}. Fix columns= or the file.",
                    path=path,
                )
        meta = parquet.metadata
        total = meta.num_rows
        group_ends = []  # cumulative rows at the end of each row group
        rows = 0
        for index in range(meta.num_row_groups):
            rows += meta.row_group(index).num_rows
            group_ends.append(rows)
        first_group = next((i for i, end in enumerate(group_ends) if end > start), None)
        if first_group is None:  # nothing left (or an empty file)
            frame = pl.from_arrow(parquet.schema_arrow.empty_table())
            assert isinstance(frame, pl.DataFrame)
            if self.columns is not None:
                frame = frame.select(self.columns)
            yield self._chunk(frame, path, fp, start, total, group_ends, done=True)
            return
        # a schema that repeats a name: every row quarantined, fields named by position
        unique, fault = repeated_names(
            list(self.columns or parquet.schema_arrow.names),
            f"the schema of {path}",
            "in the file",
        )
        skip = start - (group_ends[first_group - 1] if first_group else 0)
        batches = parquet.iter_batches(
            batch_size=chunk_size,
            row_groups=range(first_group, meta.num_row_groups),
            columns=self.columns,
            use_threads=True,
        )
        offset = start
        for batch in batches:
            if skip:  # rows of the first row group committed by an earlier run
                dropped = min(skip, batch.num_rows)
                batch, skip = batch.slice(dropped), skip - dropped
                if batch.num_rows == 0:
                    continue
            batch = batch.rename_columns(unique)
            frame, rejects = _text_checked(batch)
            chunk = self._chunk(
                frame, path, fp, offset, total, group_ends, done=False, rows=batch.num_rows
            )
            if rejects is not None:  # rows whose text is not UTF-8 (an unchecked writer)
                chunk = _with_rejects(chunk, batch, offset, rejects)
            if fault is not None:
                labels = chunk.source_labels()
                wrong = unmapped(chunk.frame, labels, fault, "parquet_columns")
                parts = [r for r in (chunk.rejects, wrong) if r is not None]
                chunk = replace(chunk, frame=pl.DataFrame(), sources=None, rejects=pl.concat(parts))
            yield chunk
            offset += batch.num_rows
        if offset != total:
            raise ExtractError(
                f"{path}: read {offset} rows but the file's metadata says {total}; the file "
                "is damaged or changed while it was read. Run again.",
                path=path,
            )

    @staticmethod
    def _chunk(
        frame: pl.DataFrame,
        path: str,
        fp: str,
        offset: int,
        total: int,
        group_ends: list[int],
        *,
        done: bool,
        rows: int | None = None,
    ) -> Chunk:
        """`rows`: rows of the file consumed (default: the frame's; more when some were
        rejected)."""
        end = offset + (frame.height if rows is None else rows)
        sources = (
            f"{path}:row "
            + pl.int_range(offset + 1, offset + frame.height + 1, eager=True).cast(pl.String)
        ).alias("source")
        next_group = next((i for i, stop in enumerate(group_ends) if stop > end), len(group_ends))
        return Chunk(
            frame,
            source=path,
            position={
                "fp": fp,
                "offset": end,
                "row_group": next_group,
                "done": done or end >= total,
            },
            sources=sources,
            bytes_read=int(frame.estimated_size()),
        )


def _text_checked(batch: pa.RecordBatch) -> tuple[pl.DataFrame, pl.Series | None]:
    """The batch as a frame, and a mask of its rows holding text that is not UTF-8
    (None: none). Arrow does not check the text a Parquet writer stored; Polars would
    take it as is and PostgreSQL refuse it, failing the whole batch."""
    bad: pl.Series | None = None
    for index, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = batch.column(index)
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        # a cold path: only a column that failed the check is looked at value by value
        values = column.cast(pa.large_binary()).to_pylist()
        wrong = pl.Series([fault(v) == "encoding" for v in values], dtype=pl.Boolean)
        bad = wrong if bad is None else bad | wrong
    if bad is None:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        return frame, None
    frame = pl.from_arrow(batch.filter(pa.array((~bad).to_list())))
    assert isinstance(frame, pl.DataFrame)
    return frame, bad


def _with_rejects(chunk: Chunk, batch: pa.RecordBatch, offset: int, bad: pl.Series) -> Chunk:
    """`chunk` (the good rows) with the rows `bad` marks as rejects: their text as
    received (bytes that are not UTF-8 escaped and named, `reject_frame`)."""
    rows = pa.Table.from_batches([batch.filter(pa.array(bad.to_list()))])
    texts = {
        f.name
        for f in rows.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    }
    rows = rows.cast(
        pa.schema(
            [pa.field(f.name, pa.large_binary()) if f.name in texts else f for f in rows.schema]
        )
    )
    numbers = [offset + 1 + i for i in bad.arg_true().to_list()]
    raws = [{k: _plain(v, k in texts) for k, v in record.items()} for record in rows.to_pylist()]
    good = pl.Series(range(len(bad))).filter(~bad) + offset + 1
    return replace(
        chunk,
        sources=(f"{chunk.source}:row " + good.cast(pl.String)).alias("source"),
        rejects=reject_frame([f"{chunk.source}:row {n}" for n in numbers], raws, [[]] * len(raws)),
        received=len(bad),
    )


def _plain(value: Any, text: bool) -> Any:
    """A value of a rejected row for its raw JSON: text as received (undecodable bytes
    as surrogateescape characters, escaped later), other types as JSON or their text."""
    if value is None:
        return None
    if text:
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
