"""`CsvExtractor`: a glob of delimited text files, one slice per file, read as text.

pyarrow's streaming CSV reader parses block by block (bounded memory) in C++ and hands
malformed rows (wrong field count, broken quoting) to a handler instead of failing
the file, which keeps them for the quarantine with their row number and raw text.
Every field is read as bytes and decoded by Polars, so a value that is not valid
UTF-8 rejects its row, not the file, and no value is converted before the contract
sees it (what was received is what the quarantine keeps).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from polaretl.errors import ConfigError, ExtractError
from polaretl.extract import storage
from polaretl.extract.base import Chunk, Extractor, reject_frame
from polaretl.extract.columns import repeated_names, unmapped
from polaretl.extract.csv_quotes import long_record, quote_problems
from polaretl.extract.files import fingerprint, matching_files, resume_offset
from polaretl.extract.storable import escape
from polaretl.extract.storable import fault as _fault

_BLOCK = 4 << 20  # bytes parsed at a time; pyarrow yields one record batch per block
#: pyarrow cannot parse a record longer than a block ("straddling object straddles two
#: block boundaries"): the block grows up to this for such a record (a PostgreSQL text
#: value holds up to 1 GB)
_MAX_BLOCK = 1 << 30


class CsvExtractor(Extractor):
    """Read delimited files as text, chunked, resumable per file.

    Args:
        path: a glob (``data/orders/*.csv``) or a list of globs.
        delimiter: the field separator.
        quote: the quote character, or None for none.
        header: whether the first row names the columns.
        columns: column names when there is no header (else ``column_1``...).
        encoding: ``utf-8`` (a BOM is skipped), ``utf-8-sig``, ``latin-1``, or any
            Python codec name.
        null_values: text values that mean null (applied by the contract, so the
            quarantined raw record still shows what was received).
        missing_ok: succeed with nothing to do when no file matches (default: fail).

    Example:
        >>> CsvExtractor("data/orders/*.csv", null_values=["", "NA"]).describe()
        'csv:data/orders/*.csv'
    """

    kind = "csv"

    def __init__(
        self,
        path: str | Path | list[str],
        *,
        delimiter: str = ",",
        quote: str | None = '"',
        header: bool = True,
        columns: Sequence[str] | None = None,
        encoding: str = "utf-8",
        null_values: Sequence[str] = ("",),
        missing_ok: bool = False,
    ) -> None:
        if len(delimiter) != 1 or (quote is not None and len(quote) != 1):
            raise ConfigError("CsvExtractor: delimiter and quote must be single characters.")
        if columns and len(set(columns)) != len(columns):
            raise ConfigError(f"CsvExtractor: columns= names a column twice: {list(columns)}.")
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise ConfigError(f"CsvExtractor: unknown encoding {encoding!r}.") from exc
        self.path = path
        self.delimiter = delimiter
        self.quote = quote
        self.header = header
        self.columns = list(columns) if columns else None
        # utf-8 is read as bytes and decoded per column; other codecs are transcoded
        self.encoding = "utf8" if codec in ("utf-8", "utf-8-sig") else codec
        self.null_values = list(null_values)
        self.missing_ok = missing_ok

    def describe(self) -> str:
        return f"csv:{self.path}"

    def slices(self) -> list[str]:
        return matching_files(self.path, missing_ok=self.missing_ok, shown=str(self.path))

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        fp = fingerprint(slice)
        start = resume_offset(state, fp, appended=slice)
        if start is None:
            return
        names = self._column_names(slice)
        if names is None:  # an empty file
            yield Chunk(pl.DataFrame(), source=slice, position=_pos(fp, 0, True))
            return
        yield from _Reader(self, slice, fp, names, start).chunks(chunk_size)

    def _column_names(self, path: str) -> list[str] | None:
        if not self.header:
            if self.columns:
                return self.columns
            first = self._sniff(path)
            if first is None:
                return None
            return [f"column_{i + 1}" for i in range(first.read_next_batch().num_columns)]
        reader = self._sniff(path)
        if reader is None:
            return None
        names = list(reader.schema.names)
        if names and names[0].startswith("\ufeff"):  # a BOM pyarrow left in place
            names[0] = names[0][1:]
        return names

    def _sniff(self, path: str) -> pacsv.CSVStreamingReader | None:
        """A reader of the file's first block, for its columns (None: an empty file);
        the block grows when the first record is longer than it."""
        block = 64 << 10
        while True:
            try:
                return self._open(path, None, 0, block=block)
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return None
                if "straddl" in str(exc) and block < _MAX_BLOCK:
                    block = min(block * 16, _MAX_BLOCK)
                    continue
                raise ExtractError(f"Cannot read the header of {path}: {exc}", path=path) from exc

    def _open(
        self,
        path: str,
        names: list[str] | None,
        skip: int,
        *,
        on_invalid: Any = None,
        block: int = _BLOCK,
    ) -> pacsv.CSVStreamingReader:
        read = pacsv.ReadOptions(
            use_threads=False,
            block_size=block,
            encoding=self.encoding,
            skip_rows_after_names=skip,
            column_names=None if self.header else names,
            autogenerate_column_names=not self.header and not names,
        )
        parse = pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.quote if self.quote is not None else False,
            newlines_in_values=True,
            invalid_row_handler=on_invalid or (lambda row: "skip"),
        )
        types = {n: pa.binary() for n in names} if names else None
        convert = pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            true_values=[],
            false_values=[],
        )
        return pacsv.open_csv(
            storage.arrow_input(path),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )


def _pos(fp: str, offset: int, done: bool, appendable: bool = True) -> dict[str, Any]:
    """A slice's position; `appendable`: the file read so far ends between records, so
    rows appended to it later are read on their own (see `resume_offset`)."""
    return {"fp": fp, "offset": offset, "done": done, "appendable": appendable}


class _Reader:
    """One pass over one file from record `start` (records consumed, bad ones included)."""

    def __init__(self, ext: CsvExtractor, path: str, fp: str, names: list[str], start: int):
        self.ext, self.path, self.fp, self.names = ext, path, fp, names
        # a header that repeats a name cannot be mapped to the contract: every record is
        # quarantined, its fields named by position ("v (column 3)")
        self.unique, self.header_fault = repeated_names(names, f"the header of {path}")
        self.next = start + 1  # 1-based ordinal of the next data record
        self.header_rows = 1 if ext.header else 0
        self.invalid: list[tuple[int, str, str]] = []  # (ordinal, raw text, error)
        # records whose quoting the parser would load wrongly ("x"y, a quote left open)
        self.problems, self.open_end = (
            quote_problems(path, ext.delimiter, ext.quote, ext.encoding, self.header_rows)
            if ext.quote
            else ({}, False)
        )

    def _on_invalid(self, row: Any) -> str:
        ordinal = (row.number or 0) - self.header_rows
        error = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        self.invalid.append((ordinal, row.text, error))
        return "skip"

    def _reader(self, block: int) -> tuple[pacsv.CSVStreamingReader, int]:
        """A parser from the first record not yet given out (`self.next`), and its block
        size (grown when the first block it reads holds no whole record)."""
        while True:
            try:
                reader = self.ext._open(
                    self.path, self.names, self.next - 1, on_invalid=self._on_invalid, block=block
                )
                return reader, block
            except pa.ArrowInvalid as exc:
                if "straddl" in str(exc) and block < _MAX_BLOCK:
                    block = min(block * 4, _MAX_BLOCK)
                    self.invalid = [r for r in self.invalid if r[0] < self.next]
                    continue
                raise self._stopped(exc, 0, block) from exc
            except OSError as exc:
                raise ExtractError(f"Cannot read {self.path}: {exc}", path=self.path) from exc

    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        reader, block = self._reader(_BLOCK)
        pending: list[pl.DataFrame] = []
        pending_rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                if "straddl" in str(exc) and block < _MAX_BLOCK:
                    # a record longer than a block: parse again from the first record
                    # not given out, in blocks that hold it (the records parsed since
                    # were not given out either)
                    pending, pending_rows = [], 0
                    self.invalid = [r for r in self.invalid if r[0] < self.next]
                    reader, block = self._reader(min(block * 4, _MAX_BLOCK))
                    continue
                raise self._stopped(exc, pending_rows, block) from exc
            frame = pl.from_arrow(batch.rename_columns(self.unique))
            assert isinstance(frame, pl.DataFrame)
            pending.append(frame)
            pending_rows += frame.height
            # strictly more than a chunk: the last chunk of the file is never an empty one
            while pending_rows > chunk_size:
                whole = pl.concat(pending)
                yield self._chunk(whole.head(chunk_size), done=False)
                rest = whole.slice(chunk_size)
                pending, pending_rows = [rest], rest.height
        whole = (
            pl.concat(pending)
            if pending
            else pl.DataFrame(schema={n: pl.Binary for n in self.unique})
        )
        while whole.height > chunk_size:
            yield self._chunk(whole.head(chunk_size), done=False)
            whole = whole.slice(chunk_size)
        yield self._chunk(whole, done=True)

    def _stopped(self, exc: pa.ArrowInvalid, parsed: int, block: int) -> ExtractError:
        """The parser gave up after `parsed` good records (and the malformed ones) past
        those given out: name the record it stopped at, and what was committed."""
        at = self.next + parsed + sum(1 for r in self.invalid if r[0] >= self.next)
        straddles = "straddl" in str(exc)
        if straddles:  # pyarrow fails the whole block: find the record that is too long
            ext = self.ext
            long = long_record(
                self.path, ext.delimiter, ext.quote, ext.encoding, self.header_rows, block
            )
            at = long if long is not None and long >= at else at
        line = f"{self.path}:{at + self.header_rows}"
        kept = (
            f"records 1-{self.next - 1} were committed in earlier batches, none from "
            f"record {self.next} on"
            if self.next > 1
            else "no record was committed"
        )
        why = (
            f"record {at} ({line}) is longer than {block >> 20} MiB, the most polaretl "
            "parses as one record (a PostgreSQL text value holds up to 1 GB)"
            if straddles
            else f"near record {at} ({line}): {exc}"
        )
        return ExtractError(
            f"{self.path}: the CSV parser stopped: {why}. Of this file, {kept}; fix the "
            "file and run again.",
            path=self.path,
            line=at + self.header_rows,
        )

    def _chunk(self, raw: pl.DataFrame, *, done: bool) -> Chunk:
        """Give `raw` (the next valid records, as bytes) their ordinals, decode them, and
        attach the malformed records that fall among them."""
        end = self.next + raw.height
        taken = sorted(o for o, _, _ in self.invalid if o < end)
        while True:  # malformed records take ordinals too: widen until stable
            widened = self.next + raw.height + len(taken)
            more = sorted(o for o, _, _ in self.invalid if o < widened)
            if len(more) == len(taken):
                break
            taken = more
        end = self.next + raw.height + len(taken)
        if done:  # malformed records after the last good one belong to the last chunk
            end = max([end, *(o + 1 for o, _, _ in self.invalid)])
        bad = [r for r in self.invalid if r[0] < end]
        self.invalid = [r for r in self.invalid if r[0] >= end]
        ordinals = pl.int_range(self.next, end, dtype=pl.Int64, eager=True).filter(
            ~pl.int_range(self.next, end, dtype=pl.Int64, eager=True).is_in([o for o, _, _ in bad])
        )
        self.next = end
        if self.problems:  # parsed, but not as the file holds them: rejected
            quoted = ordinals.is_in(list(self.problems))
            if quoted.any():
                bad += [(o, *self.problems[o]) for o in ordinals.filter(quoted).to_list()]
                raw, ordinals = raw.filter(~quoted), ordinals.filter(~quoted)
        frame, encoding_rejects = _decode(raw, ordinals, self.path, self.header_rows)
        labels = (f"{self.path}:" + (ordinals + self.header_rows).cast(pl.String)).alias("s")
        if encoding_rejects is not None:
            keep, rejects = encoding_rejects
            labels, ordinals = labels.filter(keep), ordinals.filter(keep)
        else:
            rejects = None
        if self.header_fault is not None:
            lines = ordinals + self.header_rows
            wrong = unmapped(frame, labels, self.header_fault, "csv_header", lines)
            rejects = pl.concat([r for r in (rejects, wrong) if r is not None])
            frame, labels = pl.DataFrame(), labels.clear()
        malformed = (
            reject_frame(
                [f"{self.path}:{o + self.header_rows}" for o, _, _ in bad],
                [text for _, text, _ in bad],
                [
                    [
                        {
                            "column": None,
                            "check": "csv_format",
                            "value": None,
                            "message": f"row {o + self.header_rows}: {err}",
                            "line": o + self.header_rows,
                        }
                    ]
                    for o, _, err in bad
                ],
            )
            if bad
            else None
        )
        parts = [r for r in (rejects, malformed) if r is not None]
        return Chunk(
            frame,
            source=self.path,
            position=_pos(self.fp, end - 1, done, appendable=not self.open_end),
            sources=labels,
            rejects=pl.concat(parts) if parts else None,
            null_values=self.ext.null_values,
            bytes_read=int(raw.estimated_size()),
        )


def _decode(
    raw: pl.DataFrame, ordinals: pl.Series, path: str, header_rows: int
) -> tuple[pl.DataFrame, tuple[pl.Series, pl.DataFrame] | None]:
    """Bytes to text, column by column. Rows holding bytes that are not UTF-8, or a NUL
    byte (which PostgreSQL text cannot store), are split off as rejects, their raw
    values shown with backslash escapes (``\\xe9``, ``\\x00``)."""
    nul = (
        raw.height > 0
        and raw.width > 0
        and bool(raw.select(pl.any_horizontal(pl.all().bin.contains(b"\x00"))).to_series().any())
    )
    if not nul:
        try:
            return raw.select(pl.all().cast(pl.String)), None
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
            pass
    # the cold path: only files with undecodable or NUL bytes get here
    columns = raw.columns
    keep = pl.Series([not any(map(_fault, row)) for row in raw.iter_rows()], dtype=pl.Boolean)
    good = raw.filter(keep).select(pl.all().cast(pl.String))
    raws, errors, sources = [], [], []
    for ordinal, row in zip(ordinals.filter(~keep), raw.filter(~keep).iter_rows(), strict=True):
        line = ordinal + header_rows
        # as received; a value PostgreSQL cannot store escaped (polaretl.extract.storable)
        raws.append({c: _shown(v) for c, v in zip(columns, row, strict=True)})
        errors.append(
            [
                {
                    "column": c,
                    "check": fault,
                    "value": _shown(v),
                    "message": f"row {line}: column {c} " + _FAULTS[fault],
                    "line": line,
                    "escaped": True,  # raw and value: see polaretl.extract.storable
                }
                for c, v in zip(columns, row, strict=True)
                if (fault := _fault(v))
            ]
        )
        sources.append(f"{path}:{line}")
    return good, (keep, reject_frame(sources, raws, errors))


_FAULTS = {
    "encoding": "is not valid UTF-8 (shown with \\x escapes); if the file is in another "
    "encoding, set CsvExtractor(encoding=...), e.g. encoding='cp1252'",
    "nul_byte": "holds a NUL byte (shown as \\x00), which a PostgreSQL text value cannot "
    "store; remove it from the source",
}


def _shown(value: bytes | None) -> str | None:
    """A value as text for the quarantine: as received, or escaped when PostgreSQL cannot
    store it (``\\xNN`` for undecodable bytes, ``\\x00`` for NUL, ``\\\\`` for a
    backslash: see `polaretl.extract.storable`)."""
    if value is None:
        return None
    return escape(value) if _fault(value) else value.decode("utf-8")
