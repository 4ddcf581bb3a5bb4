"""`NdjsonExtractor`: newline-delimited JSON files, one object per line, values as text.

Each file is one slice, read a block of at most ``chunk_size`` lines at a time (bounded
memory). A block is parsed vectorised, numbers kept as the text received: ``10.50``,
``1e400`` and ``12345678901234567890.5`` reach the contract as written. In the lines
holding a number a parser would write back otherwise (`_REWRITTEN`: an exponent, a
trailing zero, many digits, a number in a list), every number token is first rewritten
as a marked JSON string (one regex pass that skips string literals), so no parser reads
it as a double; the other lines' numbers come back from the parsers as written. Then
pyarrow infers the keys (fast, in C++), Polars decodes every line against that shape,
nested objects are flattened into
``parent_child`` columns (and flagged in `Chunk.nested`, so a contract expecting a
single value there quarantines the row instead of reading null) and lists become JSON
text, their numbers as written.

When the block has lines those parsers cannot take, it is split the slow way, line by
line with the standard library (a cold path, only for such blocks), numbers again kept
as their text: a malformed line (bad JSON, not an object, invalid UTF-8, nested too
deep) goes to the chunk's rejects with its line number and raw text; the rest is
decoded as above, or in Python when the lines disagree on the shape of a key (an
object in one line, text in another). Lines with more than `MAX_BRACKETS` opening
brackets always take the Python path: both vectorised parsers slow down steeply (and
pyarrow crashes) on deep nesting. So do lines holding an escaped NUL (``\u0000``) or a
UTF-16 surrogate (``\ud800``): Polars decodes a lone surrogate as NUL in silence, and
PostgreSQL text holds neither. Such a line is rejected (``nul_byte``,
``lone_surrogate``) with its raw text, which is plain ASCII there (the escape as
written), so the quarantine keeps it exactly; a valid surrogate pair (an emoji written
``\ud83d\ude00``) loads.

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
import polars.selectors as cs
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
_NESTED = "__polaretl_nested:"  # + column: the rows that held an object there

# A JSON string literal, or a number token (and the NaN / Infinity Python writes): the
# numbers become strings marked with U+001F, which no line the vectorised path takes
# holds (`_PYTHON_ONLY`). The marker is written \u001f inside the JSON text.
_STRING = r'"(?:[^"\\]|\\.)*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|-?Infinity"
_MARK = "\x1f"
_MARKED_IN_JSON = r'"\\u001f([^"]*)"'
#: Lines holding a number pyarrow's or Polars' number-to-text would not write back as
#: written (conservative, strings included): an exponent, a fraction ending in 0, -0, 11
#: or more integer digits (formatted 1e+10), 16 or more digits, 5 zeros after a point
#: (1e-07), a number in a list (re-encoded 2 -> 2.0), NaN and Infinity. Only these are
#: quoted first; the others are written back exactly (tests/extract/test_ndjson.py).
_REWRITTEN = (
    r"[0-9][eE]|\.[0-9]*0[^0-9]|-0[^.0-9]|[0-9]{11}|[0-9.]{17}|0\.00000|\[[^\]]*[0-9]"
    r"|NaN|Infinity"
)
#: Lines parsed in Python: escaped NUL, UTF-16 surrogates (Polars turns a lone one into
#: NUL), and the characters the number marking uses.
_PYTHON_ONLY = r"(?i)\\u(?:0000|d[89a-f][0-9a-f]{2}|001f)|[\x00\x02\x03\x1f]"

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
        flags = [c for c in frame.columns if c.startswith(_NESTED)]
        nested = {c[len(_NESTED) :]: frame.get_column(c).fill_null(False) for c in flags}
        frame = frame.drop(flags)
        sources = (f"{path}:line " + frame.get_column(_LINE).cast(pl.String)).alias("source")
        chunk = Chunk(
            frame.drop(_LINE),
            source=path,
            position={},
            sources=sources,
            rejects=_reject_frame(path, rejects) if rejects else None,
            null_values=self.null_values,
            bytes_read=sum(map(len, lines)),
            nested={k: v for k, v in nested.items() if v.any()} or None,
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


def quote_numbers(text: pl.Series) -> pl.Series:
    """Every JSON number token of each line as a string marked with U+001F (vectorised:
    one regex pass that matches string literals whole, so digits inside them are left
    alone, then literal replacements).

    Example:
        >>> quote_numbers(pl.Series(['{"a": 10.50, "b": "x 1", "c": [1e3, true]}']))[0]
        '{"a": "\\\\u001f10.50", "b": "x 1", "c": ["\\\\u001f1e3", true]}'
    """
    # strings become \x02"..."\x03 and numbers \x02N\x03; only a string puts a quote next
    # to a mark, so dropping those two pairs leaves the numbers' marks to replace
    marked = text.str.replace_all(f"{_STRING}|{_NUMBER}", "\x02$0\x03")
    return (
        marked.str.replace_all('\x02"', '"', literal=True)
        .str.replace_all('"\x03', '"', literal=True)
        .str.replace_all("\x02", '"\\u001f', literal=True)
        .str.replace_all("\x03", '"', literal=True)
    )


def _parse(
    text: pl.Series, numbers: pl.Series, ctx: _Ctx
) -> tuple[pl.DataFrame, list[tuple[int, str, str, str]]]:
    """Rows (with their line numbers in `_LINE`) and rejects of the non-blank lines."""
    sep, path = ctx.sep, ctx.path
    python = (
        (text.str.count_matches("[", literal=True) + text.str.count_matches("{", literal=True))
        > MAX_BRACKETS
    ) | text.str.contains(_PYTHON_ONLY)
    light_text, light_numbers = text.filter(~python), numbers.filter(~python)
    rejects: list[tuple[int, str, str, str]] = []
    parts = _vectorised_parts(light_text, light_numbers, ctx)
    if parts is None:  # cold path: find the lines that break the vectorised parsers
        good, rejects = _python_objects(light_text.to_list(), light_numbers.to_list())
        good_lines = [number for number, _ in good]
        keep = light_numbers.is_in(good_lines)
        light_text, light_numbers = light_text.filter(keep), light_numbers.filter(keep)
        parts = _vectorised_parts(light_text, light_numbers, ctx)
        if parts is None:  # valid JSON, but shapes disagree: flatten in Python
            frame = _python_frame([obj for _, obj in good], sep, path)
            parts = [frame.with_columns(light_numbers.alias(_LINE))]
    if python.any():
        good, more = _python_objects(
            text.filter(python).to_list(), numbers.filter(python).to_list()
        )
        rejects.extend(more)
        python_frame = _python_frame([obj for _, obj in good], sep, path)
        python_numbers = pl.Series(_LINE, [number for number, _ in good], dtype=pl.Int64)
        parts.append(python_frame.with_columns(python_numbers))
    if len(parts) == 1:
        return parts[0], rejects
    whole = pl.concat(parts, how="diagonal_relaxed").sort(_LINE)
    flags = cs.starts_with(_NESTED)
    values = (cs.all() - flags - cs.by_name(_LINE)).cast(pl.String)
    return whole.select(values, flags.fill_null(False), _LINE), rejects


def _vectorised_parts(text: pl.Series, numbers: pl.Series, ctx: _Ctx) -> list[pl.DataFrame] | None:
    """The lines decoded vectorised, with their line numbers: lines whose numbers every
    parser writes back as written as they are, the others with their numbers quoted
    first (the regex pass costs about as much as the decoding, so only where needed);
    None when a parser refuses them."""
    if text.is_empty():
        return [pl.DataFrame({_LINE: numbers})]
    plain = ~text.str.contains(_REWRITTEN)
    parts = []
    for mask, quote in ((plain, False), (~plain, True)):
        if not mask.any():
            continue
        part = text.filter(mask)
        frame = _vectorised(quote_numbers(part) if quote else part, ctx)
        if frame is None:
            return None
        parts.append(frame.with_columns(numbers.filter(mask).alias(_LINE)))
    return parts


def _vectorised(text: pl.Series, ctx: _Ctx) -> pl.DataFrame | None:
    """Decode lines of JSON objects (numbers already quoted) to flat text columns, or
    None if they cannot be.

    pyarrow parses the block (C++, multi-threaded) and its columns are cast to text in
    Arrow; when pyarrow refuses the block (e.g. a key holding text in some lines and an
    object in others), Polars decodes every line with its inferred shape, scalars as text.
    """
    if text.is_empty():
        return pl.DataFrame()
    sep, path = ctx.sep, ctx.path
    table = _read_pyarrow(text, ctx)
    if table is not None:
        try:
            frame = pl.from_arrow(table.cast(_arrow_text_schema(table.schema)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            frame = None
        if isinstance(frame, pl.DataFrame):
            return _flatten(frame, sep, path, height=len(text))
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
    """Scalars as string (numbers are marked strings already, booleans become
    ``true``/``false``); structs kept for flattening, lists kept for JSON encoding."""

    def text(field: pa.Field) -> pa.Field:
        kind = field.type
        if pa.types.is_struct(kind):
            return field.with_type(pa.struct([text(kind.field(i)) for i in range(kind.num_fields)]))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return field
        return field.with_type(pa.string())

    return pa.schema([text(f) for f in schema])


def _shape_polars(text: pl.Series) -> pl.Struct | None:
    """Polars' inferred shape (where pyarrow fails: a key holding an object and text)."""
    try:
        dtype = text.str.json_decode(infer_schema_length=None).dtype
    except pl.exceptions.ComputeError:
        return None
    return _text_dtype(dtype) if isinstance(dtype, pl.Struct) else None


def _text_dtype(dtype: DType) -> Any:
    """Scalars become String; lists keep their JSON types (they are re-encoded as JSON
    text; their numbers are marked strings)."""
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
    if dtype == pl.Boolean:
        return dtype
    return pl.String()


def _flatten(frame: pl.DataFrame, sep: str, path: str, *, height: int) -> pl.DataFrame:
    """Nested structs to ``parent<sep>child`` columns (each struct flagged where a row
    held one, in ``_NESTED + name``), lists to JSON text, all String, numbers unmarked."""
    exprs: list[pl.Expr] = []
    flags: list[pl.Expr] = []

    def visit(expr: pl.Expr, name: str, dtype: DType) -> None:
        if isinstance(dtype, pl.Struct):
            flags.append(expr.is_not_null().alias(_NESTED + name))
            for field in dtype.fields:
                visit(expr.struct.field(field.name), f"{name}{sep}{field.name}", field.dtype)
        elif isinstance(dtype, (pl.List, pl.Array)):
            wrapped = pl.struct(expr.alias("v")).struct.json_encode()  # {"v":[...]}
            text = wrapped.str.slice(5, wrapped.str.len_chars() - 6)
            text = text.str.replace_all(_MARKED_IN_JSON, "${1}")
            exprs.append(pl.when(expr.is_null()).then(None).otherwise(text).alias(name))
        else:
            exprs.append(expr.cast(pl.String).str.strip_prefix(_MARK).alias(name))

    for name, dtype in frame.schema.items():
        visit(pl.col(name), name, dtype)
    if not exprs and not flags:  # only empty objects: rows without columns, one per line
        return pl.DataFrame(height=height)
    try:
        return frame.select(exprs + flags)
    except pl.exceptions.DuplicateError as exc:
        raise _collision(path, sep, exc) from exc


def _collision(path: str, sep: str, exc: Exception) -> ExtractError:
    return ExtractError(
        f"{path}: flattening nested keys with separator {sep!r} gives two columns of the "
        f"same name ({exc}). Pass NdjsonExtractor(..., separator='__') or another "
        "separator that no key contains.",
        path=path,
    )


class _Number(str):
    """A JSON number, as the text it was written with."""


def _python_objects(
    texts: list[str], numbers: list[int]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str, str]]]:
    """Parse lines one by one (cold path): the objects (numbers as `_Number` text), and
    the rejects with reasons (not JSON, not an object, text PostgreSQL cannot store)."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    for number, line in zip(numbers, texts, strict=True):
        try:
            value = json.loads(line, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
        except ValueError as exc:
            bad.append((number, line, "malformed_json", str(exc)))
            continue
        except RecursionError:
            bad.append((number, line, "malformed_json", "nested too deeply to parse"))
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__ if value is not None else "null"
            if isinstance(value, _Number):
                kind = "number"
            bad.append((number, line, "not_an_object", f"a JSON {kind}, not an object"))
        elif fault := _unstorable(value):
            bad.append((number, line, *fault))
        else:
            good.append((number, value))
    return good, bad


def _unstorable(value: Any) -> tuple[str, str] | None:
    """Why a decoded value cannot become PostgreSQL text (NUL, a lone surrogate)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "nul_byte", _FAULTS["nul_byte"]
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "lone_surrogate", _FAULTS["lone_surrogate"]
    return None


_FAULTS = {
    "nul_byte": "holds a NUL character (\\u0000), which a PostgreSQL text value cannot "
    "store; remove it from the source",
    "lone_surrogate": "holds a lone UTF-16 surrogate (e.g. \\ud800), which is not a "
    "character and cannot be stored as text; fix the source's encoder",
}


def _python_frame(objects: list[dict[str, Any]], sep: str, path: str) -> pl.DataFrame:
    """Flatten parsed objects in Python (cold path: lines whose shapes disagree)."""
    rows = []
    flags: dict[str, list[bool]] = {}
    for i, obj in enumerate(objects):
        row: dict[str, str | None] = {}
        nested: set[str] = set()
        _flatten_object(obj, "", sep, row, nested, path)
        rows.append(row)
        for name in nested:
            flags.setdefault(name, [False] * len(objects))[i] = True
    if not rows:
        return pl.DataFrame()
    frame = pl.from_dicts(rows, infer_schema_length=None).cast(pl.String)
    if frame.width == 0:
        frame = pl.DataFrame(height=len(rows))
    return frame.with_columns(
        pl.Series(_NESTED + name, values, dtype=pl.Boolean) for name, values in flags.items()
    )


def _flatten_object(
    obj: dict[str, Any],
    prefix: str,
    sep: str,
    row: dict[str, str | None],
    nested: set[str],
    path: str,
) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            nested.add(name)
            _flatten_object(value, name + sep, sep, row, nested, path)
            continue
        if name in row:
            raise _collision(path, sep, ValueError(name))
        row[name] = _scalar_text(value)


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # _Number too: the number as written
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_text(value)  # a list


def _json_text(value: Any) -> str:
    """Compact JSON text of a decoded value, its numbers as written."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        items = (f"{_json_text(str(k))}:{_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _reject_frame(path: str, rejects: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    return reject_frame(
        [f"{path}:line {number}" for number, _, _, _ in rejects],
        # a raw NUL byte makes a line invalid JSON; PostgreSQL cannot store it: \x00
        [line.replace("\x00", "\\x00") for _, line, _, _ in rejects],
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
