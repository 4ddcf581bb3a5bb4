"""`NdjsonExtractor`: newline-delimited JSON files, one object per line, values as text.

Each file is one slice, read a block of at most ``chunk_size`` lines at a time (bounded
memory). A block is parsed vectorised: pyarrow infers the keys (fast, in C++), Polars
decodes every line against that shape with every scalar read *as text* (numbers keep
their digits: ``7`` stays ``"7"``, never ``"7.0"``), nested objects are flattened into
``parent_child`` columns and lists become JSON text. So the contract casts, and a bad
value is a quarantined row rather than a crashed run.

When the block has lines those parsers cannot take, it is split the slow way, line by
line with the standard library (a cold path, only for such blocks): a malformed line
(bad JSON, not an object, invalid UTF-8, nested too deep) goes to the chunk's rejects
with its line number and raw text; the rest is decoded as above, or in Python when the
lines disagree on the shape of a key (an object in one line, text in another).
Lines with more than `MAX_BRACKETS` opening brackets always take the Python path:
both vectorised parsers slow down steeply (and pyarrow crashes) on deep nesting.

Blank lines are skipped, not rejected; ``position["blank"]`` counts them. The position's
``offset`` counts lines consumed (blank and rejected ones included) and ``byte`` the
bytes consumed, so a resumed read seeks straight there.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.json as pajson
from polars.datatypes.classes import DataTypeClass

from polaretl.errors import ConfigError, ExtractError
from polaretl.extract import storage
from polaretl.extract.base import Chunk, reject_frame
from polaretl.extract.files import FileExtractor, fingerprint, resume_offset

#: Lines with more opening brackets than this are parsed in Python (see module doc).
MAX_BRACKETS = 64

_LINE = "__polaretl_line"

#: What Polars hands back as a dtype: an instance or (for simple types) the class.
DType = pl.DataType | DataTypeClass


@dataclass
class _Ctx:
    """What the parse of one file's blocks shares: naming, and the top-level keys pyarrow
    must read as text (date-like strings), learnt from earlier blocks to save a re-read."""

    path: str
    sep: str
    text_fields: dict[str, pa.Field] = field(default_factory=dict)


class NdjsonExtractor(FileExtractor):
    """Read newline-delimited JSON files as rows of text, chunked, resumable per file.

    Args:
        path: a glob of files (``data/events/*.ndjson``) or a list of globs.
        separator: joins the keys of nested objects into column names
            (``{"address": {"city": ...}}`` -> ``address_city``).
        null_values: text values that mean null, applied by the contract.
        missing_ok: succeed with nothing to do when no file matches (default: fail).

    Example:
        >>> NdjsonExtractor("data/events/*.ndjson").describe()
        'ndjson:data/events/*.ndjson'
    """

    kind = "ndjson"

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        separator: str = "_",
        null_values: Sequence[str] = (),
        missing_ok: bool = False,
    ) -> None:
        super().__init__(path, missing_ok=missing_ok)
        if not separator:
            raise ConfigError("NdjsonExtractor: separator must not be empty.")
        self.separator = separator
        self.null_values = list(null_values)

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        """Yield the lines of the file `slice` as rows, resuming after ``state``."""
        fp = fingerprint(slice)
        start = resume_offset(state, fp)
        if start is None:
            return
        blank = int(state.get("blank", 0)) if state and start else 0
        try:
            with storage.open_binary(slice) as handle:
                if start:
                    if state and state.get("byte") is not None:
                        handle.seek(int(state["byte"]))
                    else:
                        for _ in islice(handle, start):
                            pass
                line = start
                ctx = _Ctx(slice, self.separator)
                while True:
                    lines = list(islice(handle, max(1, chunk_size)))
                    done = not handle.peek(1)
                    chunk, blanks = self._chunk(ctx, lines, line + 1)
                    line += len(lines)
                    blank += blanks
                    chunk.position = {
                        "fp": fp,
                        "offset": line,
                        "byte": handle.tell(),
                        "blank": blank,
                        "done": done,
                    }
                    yield chunk
                    if done:
                        return
        except OSError as exc:
            raise ExtractError(
                f"Cannot read {slice}: {exc}. Check that the file exists and is readable.",
                path=slice,
            ) from exc

    def _chunk(self, ctx: _Ctx, lines: list[bytes], first: int) -> tuple[Chunk, int]:
        """Parse one block of lines (the first is line number `first`)."""
        path = ctx.path
        numbers = pl.int_range(first, first + len(lines), dtype=pl.Int64, eager=True)
        raw = pl.Series("raw", lines, dtype=pl.Binary)
        try:
            text = raw.cast(pl.String).str.strip_chars_end("\r\n")
            bad_utf8 = None
        except pl.exceptions.ComputeError:  # cold path: a line that is not UTF-8
            text, bad_utf8 = _decode_lossy(lines)
        blank = text.str.strip_chars().str.len_bytes() == 0
        keep = ~blank if bad_utf8 is None else ~blank & ~bad_utf8
        rejects: list[tuple[int, str, str, str]] = []
        if bad_utf8 is not None:
            for number, value in zip(
                numbers.filter(bad_utf8).to_list(), text.filter(bad_utf8).to_list(), strict=True
            ):
                rejects.append((number, value, "encoding", "the line is not valid UTF-8"))
        frame, more = _parse(text.filter(keep), numbers.filter(keep), ctx)
        rejects.extend(more)
        rejects.sort()
        sources = (f"{path}:line " + frame.get_column(_LINE).cast(pl.String)).alias("source")
        chunk = Chunk(
            frame.drop(_LINE),
            source=path,
            position={},
            sources=sources,
            rejects=_reject_frame(path, rejects) if rejects else None,
            null_values=self.null_values,
            bytes_read=sum(map(len, lines)),
        )
        return chunk, int(blank.sum())


def _decode_lossy(lines: list[bytes]) -> tuple[pl.Series, pl.Series]:
    """Text of each line (bad bytes as backslash escapes) and which lines were not UTF-8."""
    texts, bad = [], []
    for line in lines:
        try:
            texts.append(line.decode("utf-8").rstrip("\r\n"))
            bad.append(False)
        except UnicodeDecodeError:
            texts.append(line.decode("utf-8", "backslashreplace").rstrip("\r\n"))
            bad.append(True)
    return pl.Series("raw", texts, dtype=pl.String), pl.Series(bad, dtype=pl.Boolean)


def _parse(
    text: pl.Series, numbers: pl.Series, ctx: _Ctx
) -> tuple[pl.DataFrame, list[tuple[int, str, str, str]]]:
    """Rows (with their line numbers in `_LINE`) and rejects of the non-blank lines."""
    sep, path = ctx.sep, ctx.path
    heavy = (
        text.str.count_matches("[", literal=True) + text.str.count_matches("{", literal=True)
    ) > MAX_BRACKETS
    light_text, light_numbers = text.filter(~heavy), numbers.filter(~heavy)
    rejects: list[tuple[int, str, str, str]] = []
    frame = _vectorised(light_text, ctx)
    if frame is None:  # cold path: find the lines that break the vectorised parsers
        good, rejects = _python_objects(light_text.to_list(), light_numbers.to_list())
        good_lines = [number for number, _ in good]
        keep = light_numbers.is_in(good_lines)
        light_text, light_numbers = light_text.filter(keep), light_numbers.filter(keep)
        frame = _vectorised(light_text, ctx)
        if frame is None:  # valid JSON, but shapes disagree: flatten in Python
            frame = _python_frame([obj for _, obj in good], sep, path)
    parts = [frame.with_columns(light_numbers.alias(_LINE))]
    if heavy.any():
        good, more = _python_objects(text.filter(heavy).to_list(), numbers.filter(heavy).to_list())
        rejects.extend(more)
        heavy_frame = _python_frame([obj for _, obj in good], sep, path)
        heavy_numbers = pl.Series(_LINE, [number for number, _ in good], dtype=pl.Int64)
        parts.append(heavy_frame.with_columns(heavy_numbers))
        whole = pl.concat(parts, how="diagonal_relaxed").sort(_LINE)
        return whole.select(pl.exclude(_LINE).cast(pl.String), _LINE), rejects
    return parts[0], rejects


def _vectorised(text: pl.Series, ctx: _Ctx) -> pl.DataFrame | None:
    """Decode lines of JSON objects to flat text columns, or None if they cannot be.

    pyarrow parses the block (C++, multi-threaded); when no number in it could lose
    digits as a double, its columns are cast to text in Arrow and that is the result.
    Otherwise (or when pyarrow refuses the block, e.g. a key holding numbers in some
    lines and text in others) Polars decodes every line with scalars read as text.
    """
    if text.is_empty():
        return pl.DataFrame()
    sep, path = ctx.sep, ctx.path
    table = _read_pyarrow(text, ctx)
    if table is not None and not text.str.contains(_RISKY_NUMBER).any():
        try:
            frame = pl.from_arrow(table.cast(_arrow_text_schema(table.schema)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            frame = None
        if isinstance(frame, pl.DataFrame):
            return _flatten(frame, sep, path, height=len(text))
    if table is not None:
        empty = pl.from_arrow(table.schema.empty_table())
        assert isinstance(empty, pl.DataFrame)
        dtype = _text_dtype(pl.Struct(empty.schema))
    else:
        dtype = _shape_polars(text)
    if dtype is None:
        return None
    try:
        decoded = text.str.json_decode(dtype)
    except pl.exceptions.ComputeError:
        return None
    if decoded.null_count():  # a line such as `null` is not an object
        return None
    return _flatten(decoded.struct.unnest(), sep, path, height=len(text))


#: Integers a double may not hold exactly (16+ digits), numbers with 3-digit exponents.
_RISKY_NUMBER = r"[^0-9.][0-9]{16,}[^0-9.eE]|[0-9][eE][+-]?[0-9]{3}"


def _read_pyarrow(text: pl.Series, ctx: _Ctx) -> pa.Table | None:
    """The block parsed by pyarrow's JSON reader, strings that look like dates kept as
    text; None when pyarrow refuses it."""
    data = text.str.join("\n").item().encode()
    options = pajson.ReadOptions(block_size=max(1 << 20, len(data) + 1))

    def read(fields: dict[str, pa.Field]) -> pa.Table:
        parse = pajson.ParseOptions(
            explicit_schema=pa.schema(list(fields.values())) if fields else None,
            unexpected_field_behavior="infer",
        )
        return pajson.read_json(io.BytesIO(data), read_options=options, parse_options=parse)

    try:
        table = read(ctx.text_fields)
        if _has_temporal(table.schema):  # pyarrow parsed date-like text: read it again
            fixed = {f.name: _untemporal(f) for f in table.schema if _untemporal(f) != f}
            table = read(ctx.text_fields | fixed)
            ctx.text_fields |= {  # top-level ones only: a struct type would pin its keys
                name: f for name, f in fixed.items() if pa.types.is_string(f.type)
            }
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(text):  # two objects on one line: not NDJSON
        return None
    return table


def _has_temporal(schema: pa.Schema) -> bool:
    return any(_untemporal(f) != f for f in schema)


def _untemporal(field: pa.Field) -> pa.Field:
    """`field` with every date, time or timestamp type inside it replaced by string."""
    kind = field.type
    if pa.types.is_struct(kind):
        new: pa.DataType = pa.struct([_untemporal(kind.field(i)) for i in range(kind.num_fields)])
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        new = pa.list_(_untemporal(kind.value_field))
    elif pa.types.is_temporal(kind):
        new = pa.string()
    else:
        return field
    return field.with_type(new)


def _arrow_text_schema(schema: pa.Schema) -> pa.Schema:
    """Scalars as string (Arrow writes ``7`` for a double 7.0, like the JSON did); structs
    kept for flattening, lists kept for JSON encoding."""

    def text(field: pa.Field) -> pa.Field:
        kind = field.type
        if pa.types.is_struct(kind):
            return field.with_type(pa.struct([text(kind.field(i)) for i in range(kind.num_fields)]))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return field
        return field.with_type(pa.string())

    return pa.schema([text(f) for f in schema])


def _shape_polars(text: pl.Series) -> pl.Struct | None:
    """Polars' inferred shape (widens number and text to text, where pyarrow fails)."""
    try:
        dtype = text.str.json_decode(infer_schema_length=None).dtype
    except pl.exceptions.ComputeError:
        return None
    return _text_dtype(dtype) if isinstance(dtype, pl.Struct) else None


def _text_dtype(dtype: DType) -> Any:
    """Scalars become String (so numbers keep their digits); lists keep their JSON types
    (they are re-encoded as JSON text) except dates, which stay text."""
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _text_dtype(f.dtype) for f in dtype.fields})
    if isinstance(dtype, (pl.List, pl.Array)):
        return pl.List(_list_item_dtype(dtype.inner))
    return pl.String()


def _list_item_dtype(dtype: DType) -> DType:
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _list_item_dtype(f.dtype) for f in dtype.fields})
    if isinstance(dtype, (pl.List, pl.Array)):
        return pl.List(_list_item_dtype(dtype.inner))
    if dtype.is_numeric() or dtype == pl.Boolean:
        return dtype
    return pl.String()


def _flatten(frame: pl.DataFrame, sep: str, path: str, *, height: int) -> pl.DataFrame:
    """Nested structs to ``parent<sep>child`` columns, lists to JSON text, all String."""
    exprs: list[pl.Expr] = []

    def visit(expr: pl.Expr, name: str, dtype: DType) -> None:
        if isinstance(dtype, pl.Struct):
            for field in dtype.fields:
                visit(expr.struct.field(field.name), f"{name}{sep}{field.name}", field.dtype)
        elif isinstance(dtype, (pl.List, pl.Array)):
            wrapped = pl.struct(expr.alias("v")).struct.json_encode()  # {"v":[...]}
            text = wrapped.str.slice(5, wrapped.str.len_chars() - 6)
            exprs.append(pl.when(expr.is_null()).then(None).otherwise(text).alias(name))
        else:
            exprs.append(expr.cast(pl.String).alias(name))

    for name, dtype in frame.schema.items():
        visit(pl.col(name), name, dtype)
    if not exprs:  # only empty objects: rows without columns, still one per line
        return pl.DataFrame(height=height)
    try:
        return frame.select(exprs)
    except pl.exceptions.DuplicateError as exc:
        raise _collision(path, sep, exc) from exc


def _collision(path: str, sep: str, exc: Exception) -> ExtractError:
    return ExtractError(
        f"{path}: flattening nested keys with separator {sep!r} gives two columns of the "
        f"same name ({exc}). Pass NdjsonExtractor(..., separator='__') or another "
        "separator that no key contains.",
        path=path,
    )


def _python_objects(
    texts: list[str], numbers: list[int]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str, str]]]:
    """Parse lines one by one (cold path): the objects, and the rejects with reasons."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    for number, line in zip(numbers, texts, strict=True):
        try:
            value = json.loads(line)
        except ValueError as exc:
            bad.append((number, line, "malformed_json", str(exc)))
            continue
        except RecursionError:
            bad.append((number, line, "malformed_json", "nested too deeply to parse"))
            continue
        if isinstance(value, dict):
            good.append((number, value))
        else:
            kind = type(value).__name__ if value is not None else "null"
            bad.append((number, line, "not_an_object", f"a JSON {kind}, not an object"))
    return good, bad


def _python_frame(objects: list[dict[str, Any]], sep: str, path: str) -> pl.DataFrame:
    """Flatten parsed objects in Python (cold path: lines whose shapes disagree)."""
    rows = []
    for obj in objects:
        row: dict[str, str | None] = {}
        _flatten_object(obj, "", sep, row, path)
        rows.append(row)
    if not rows:
        return pl.DataFrame()
    return pl.from_dicts(rows, infer_schema_length=None).cast(pl.String)


def _flatten_object(
    obj: dict[str, Any], prefix: str, sep: str, row: dict[str, str | None], path: str
) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            _flatten_object(value, name + sep, sep, row, path)
            continue
        if name in row:
            raise _collision(path, sep, ValueError(name))
        row[name] = _scalar_text(value)


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value)  # int, float: as JSON writes them


def _reject_frame(path: str, rejects: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    return reject_frame(
        [f"{path}:line {number}" for number, _, _, _ in rejects],
        [line for _, line, _, _ in rejects],
        [
            [
                {
                    "column": None,
                    "check": check,
                    "value": None,
                    "message": f"line {number}: {message}",
                    "line": number,
                }
            ]
            for number, _, check, message in rejects
        ],
    )
