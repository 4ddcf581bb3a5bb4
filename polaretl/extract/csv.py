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
from polaretl.extract.base import Chunk, Extractor, reject_frame
from polaretl.extract.files import expand_glob, fingerprint, resume_offset

_BLOCK = 4 << 20  # bytes parsed at a time; pyarrow yields one record batch per block


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
        files = expand_glob(self.path if not isinstance(self.path, Path) else str(self.path))
        if not files and not self.missing_ok:
            raise ExtractError(
                f"No file matches {self.path!s} (relative to {Path.cwd()}). Check the path, "
                "or pass missing_ok=True to succeed with nothing to load.",
                path=str(self.path),
            )
        return files

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        fp = fingerprint(slice)
        start = resume_offset(state, fp)
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
            first = self._open(path, None, 0, sniff=True).read_next_batch()
            return [f"column_{i + 1}" for i in range(first.num_columns)]
        try:
            reader = self._open(path, None, 0, sniff=True)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return None
            raise ExtractError(f"Cannot read the header of {path}: {exc}", path=path) from exc
        names = list(reader.schema.names)
        if names and names[0].startswith("\ufeff"):  # a BOM pyarrow left in place
            names[0] = names[0][1:]
        return names

    def _open(
        self,
        path: str,
        names: list[str] | None,
        skip: int,
        *,
        sniff: bool = False,
        on_invalid: Any = None,
    ) -> pacsv.CSVStreamingReader:
        read = pacsv.ReadOptions(
            use_threads=False,
            block_size=64 << 10 if sniff else _BLOCK,
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
        return pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)


def _pos(fp: str, offset: int, done: bool) -> dict[str, Any]:
    return {"fp": fp, "offset": offset, "done": done}


class _Reader:
    """One pass over one file from record `start` (records consumed, bad ones included)."""

    def __init__(self, ext: CsvExtractor, path: str, fp: str, names: list[str], start: int):
        self.ext, self.path, self.fp, self.names = ext, path, fp, names
        self.next = start + 1  # 1-based ordinal of the next data record
        self.header_rows = 1 if ext.header else 0
        self.invalid: list[tuple[int, str, str]] = []  # (ordinal, raw text, error)

    def _on_invalid(self, row: Any) -> str:
        ordinal = (row.number or 0) - self.header_rows
        error = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        self.invalid.append((ordinal, row.text, error))
        return "skip"

    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        try:
            reader = self.ext._open(
                self.path, self.names, self.next - 1, on_invalid=self._on_invalid
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise ExtractError(f"Cannot read {self.path}: {exc}", path=self.path) from exc
        pending: list[pl.DataFrame] = []
        pending_rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise ExtractError(
                    f"{self.path}: the CSV parser stopped near record {self.next}: {exc}. "
                    "Records before it were committed; fix the file and run again.",
                    path=self.path,
                ) from exc
            frame = pl.from_arrow(batch)
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
            else pl.DataFrame(schema={n: pl.Binary for n in self.names})
        )
        if whole.height and self.ext.quote and _odd_quotes(self.path, self.ext.quote):
            whole = self._reject_unterminated_tail(whole)
        while whole.height > chunk_size:
            yield self._chunk(whole.head(chunk_size), done=False)
            whole = whole.slice(chunk_size)
        yield self._chunk(whole, done=True)

    def _reject_unterminated_tail(self, whole: pl.DataFrame) -> pl.DataFrame:
        """An odd number of quote characters means a quoted field never closed: it ran to
        the end of the file and swallowed every record after it. pyarrow accepts that
        last record; polaretl rejects it rather than load a mangled value."""
        last = self.next + whole.height + len(self.invalid) - 1  # the file's last record
        if any(o >= last for o, _, _ in self.invalid):
            return whole  # the last record is already rejected (a wrong field count)
        text = _tail_from_last_quote(self.path, self.ext.quote or '"')
        if text is None:  # too far back to show as is: show the parsed fields
            text = self.ext.delimiter.join(
                (v or b"").decode("utf-8", "backslashreplace") for v in whole.tail(1).row(0)
            )
        error = "unterminated quote: this record runs to the end of the file"
        self.invalid.append((last, text, error))
        return whole.head(whole.height - 1)

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
        frame, encoding_rejects = _decode(raw, ordinals, self.path, self.header_rows)
        labels = (f"{self.path}:" + (ordinals + self.header_rows).cast(pl.String)).alias("s")
        if encoding_rejects is not None:
            keep, rejects = encoding_rejects
            labels = labels.filter(keep)
        else:
            rejects = None
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
            position=_pos(self.fp, end - 1, done),
            sources=labels,
            rejects=pl.concat(parts) if parts else None,
            null_values=self.ext.null_values,
            bytes_read=int(raw.estimated_size()),
        )


def _odd_quotes(path: str, quote: str) -> bool:
    """Whether the file holds an odd number of quote characters (bytes.count: fast)."""
    mark = quote.encode()
    total = 0
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            total += block.count(mark)
    return total % 2 == 1


def _tail_from_last_quote(path: str, quote: str, limit: int = 1 << 20) -> str | None:
    """The file's text from the start of the line holding its last quote character."""
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(size - limit, 0))
        tail = handle.read()
    at = tail.rfind(quote.encode())
    start = tail.rfind(b"\n", 0, at) + 1
    if at < 0 or (start == 0 and size > limit):
        return None
    return tail[start:].decode("utf-8", "backslashreplace")


def _decode(
    raw: pl.DataFrame, ordinals: pl.Series, path: str, header_rows: int
) -> tuple[pl.DataFrame, tuple[pl.Series, pl.DataFrame] | None]:
    """Bytes to text, column by column; rows with bytes that are not UTF-8 are split off
    as rejects (their raw values shown with backslash escapes)."""
    try:
        return raw.select(pl.all().cast(pl.String)), None
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        pass
    # the cold path: only files with undecodable bytes get here
    columns = raw.columns
    valid_rows = [all(v is None or _is_utf8(v) for v in row) for row in raw.iter_rows()]
    keep = pl.Series(valid_rows, dtype=pl.Boolean)
    good = raw.filter(keep).select(pl.all().cast(pl.String))
    bad = raw.filter(~keep)
    bad_ordinals = ordinals.filter(~keep).to_list()
    raws, errors, sources = [], [], []
    for ordinal, row in zip(bad_ordinals, bad.iter_rows(), strict=True):
        line = ordinal + header_rows
        raws.append(
            {c: v.decode("utf-8", "backslashreplace") for c, v in zip(columns, row, strict=True)}
        )
        errors.append(
            [
                {
                    "column": c,
                    "check": "encoding",
                    "value": v.decode("utf-8", "backslashreplace"),
                    "message": f"row {line}: column {c} is not valid UTF-8",
                    "line": line,
                }
                for c, v in zip(columns, row, strict=True)
                if v is not None and not _is_utf8(v)
            ]
        )
        sources.append(f"{path}:{line}")
    return good, (keep, reject_frame(sources, raws, errors))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
