"""JSON bodies to frames of text columns, for `RestExtractor`.

`parse_json` keeps every number as the exact text it arrived as (`JsonNumber`),
`records_frame` flattens objects into one text column per leaf (arrays as compact JSON
text, an empty object as ``{}``), and `max_cursor` finds the largest incremental cursor
value of a column. Flattening works column by column (one C-level ``map`` per key), so
the only per-record Python work is the JSON parser itself.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from itertools import chain
from json.encoder import encode_basestring
from operator import methodcaller
from typing import Any

import polars as pl

from polaretl.errors import ExtractError

__all__ = ["JsonNumber", "max_cursor", "parse_json", "records_frame", "to_json_text"]


class JsonNumber(str):
    """A JSON number kept as the text it arrived as (``10.50`` stays ``10.50``)."""

    __slots__ = ()


_TEXT_TYPES = frozenset({str, JsonNumber, type(None)})


def parse_json(raw: bytes | str) -> Any:
    """Parse a JSON body, numbers kept as their text (`JsonNumber`).

    The garbage collector is paused while parsing: building a million small dicts
    otherwise triggers full collections that double the parse time.

    Example:
        >>> parse_json(b'{"a": 1.50, "b": [1e3]}')
        {'a': '1.50', 'b': ['1e3']}
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return json.loads(
            raw, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=JsonNumber
        )
    finally:
        if enabled:
            gc.enable()


def _encode_string(text: str) -> str:
    # The JSON encoder hands every str (subclasses included) to this function: a
    # JsonNumber goes out as the raw number text, any other string as a JSON string.
    return str.__str__(text) if text.__class__ is JsonNumber else encode_basestring(text)


def _slow_json_text(value: Any) -> str:
    cls = value.__class__
    if cls is JsonNumber or cls is str:
        return _encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if cls is list:
        return "[" + ",".join(map(_slow_json_text, value)) + "]"
    if cls is dict:
        return (
            "{"
            + ",".join(encode_basestring(k) + ":" + _slow_json_text(v) for k, v in value.items())
            + "}"
        )
    return json.dumps(value, ensure_ascii=False)


def _fast_json_text() -> Callable[[Any], str] | None:
    """CPython's C encoder with `_encode_string` for strings: about 5x the Python version."""
    try:
        from _json import make_encoder  # noqa: PLC0415 - CPython only

        def unknown(value: Any) -> Any:
            raise TypeError(f"{type(value).__name__} is not JSON")

        encode = make_encoder(None, unknown, _encode_string, None, ":", ",", False, False, True)

        def fast(value: Any) -> str:
            return "".join(encode(value, 0))

        sample = [JsonNumber("1.50"), "é", {"k": None, "t": True}]
        if fast(sample) != _slow_json_text(sample):  # another Python's encoder
            return None
        return fast
    except (ImportError, TypeError):
        return None


_json_text = _fast_json_text() or _slow_json_text


def to_json_text(value: Any) -> str:
    """Compact JSON text of a value from `parse_json`, numbers exactly as received.

    Example:
        >>> to_json_text(parse_json(b'[1.50, "a", {"k": null, "t": true}]'))
        '[1.50,"a",{"k":null,"t":true}]'
    """
    return _json_text(value)


def _cell(value: Any) -> str | None:
    cls = value.__class__
    if cls is str or cls is JsonNumber or value is None:
        return value  # type: ignore[no-any-return]
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _json_text(value)  # arrays, empty objects


def _put(
    out: dict[str, list[Any]],
    origins: dict[str, tuple[str, ...]],
    path: tuple[str, ...],
    name: str,
    values: list[Any],
) -> None:
    known = origins.setdefault(name, path)
    if known != path or name in out:
        raise ExtractError(
            f"the fields {'.'.join(known)!r} and {'.'.join(path)!r} both flatten to the "
            f"column {name!r}; pass another flatten_sep (e.g. '.') to keep them apart."
        )
    out[name] = values


def _flatten(
    objs: list[Any],
    prefix: tuple[str, ...],
    sep: str,
    out: dict[str, list[Any]],
    origins: dict[str, tuple[str, ...]],
    dense: bool = True,
) -> None:
    """Add the columns of `objs` (one per row: a dict, or None where `dense` is False)."""
    # Column by column: one C-level pass per key (map/set) instead of a Python loop
    # per record; only columns holding booleans, arrays or objects need `_cell`.
    keys = dict.fromkeys(chain.from_iterable(objs if dense else filter(None, objs)))
    for key in keys:
        path = (*prefix, key)
        name = sep.join(path)
        if dense:
            values = list(map(methodcaller("get", key), objs))
        else:
            values = [o and o.get(key) for o in objs]
        kinds = set(map(type, values))
        if kinds <= _TEXT_TYPES:
            _put(out, origins, path, name, values)
            continue
        if dict in kinds:
            if len(kinds) == 1 and all(values):  # an object in every row, none empty
                _flatten(values, path, sep, out, origins)
                continue
            nested = [v if v.__class__ is dict and v else None for v in values]
            if any(nested):
                rest = [None if v.__class__ is dict and v else v for v in values]
                if any(v is not None for v in rest):
                    _put(out, origins, path, name, list(map(_cell, rest)))
                _flatten(nested, path, sep, out, origins, dense=False)
                continue
        _put(out, origins, path, name, list(map(_cell, values)))


def records_frame(
    records: list[dict[str, Any]],
    sep: str = "_",
    origins: dict[str, tuple[str, ...]] | None = None,
) -> pl.DataFrame:
    """Flatten JSON objects (from `parse_json`) into a frame of text columns.

    Args:
        records: the objects, one per row.
        sep: joins the keys of nested objects into column names.
        origins: column name -> key path, shared across pages so that two fields
            flattening to one name are caught (`ExtractError`).

    Example:
        >>> body = b'[{"id": 7, "a": {"city": "Oslo"}, "tags": [1, "x"], "ok": true, "n": null}]'
        >>> records_frame(parse_json(body)).row(0)
        ('7', 'Oslo', '[1,"x"]', 'true', None)
    """
    columns: dict[str, list[Any]] = {}
    _flatten(records, (), sep, columns, {} if origins is None else origins)
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def max_cursor(values: pl.Series, previous: str | None = None) -> str | None:
    """The largest cursor value, compared as numbers or datetimes if most values parse so.

    Values that do not parse under the chosen kind are ignored (the contract will
    quarantine their rows); with neither kind, text order is used.

    Example:
        >>> max_cursor(pl.Series(["9", "10", "bad"]))
        '10'
        >>> max_cursor(pl.Series(["2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05Z"]))
        '2024-01-02T03:04:05.5Z'
    """
    text = values.cast(pl.String)
    if previous is not None:
        text = text.append(pl.Series([previous], dtype=pl.String))
    text = text.drop_nulls()
    if text.is_empty():
        return previous
    numbers = text.cast(pl.Float64, strict=False)
    best = numbers
    if numbers.null_count():
        try:
            times = text.str.to_datetime(strict=False, time_zone="UTC")
        except pl.exceptions.PolarsError:
            times = None
        if times is not None and times.null_count() < numbers.null_count():
            best = times
    top = best.arg_max()
    if top is None:  # nothing parsed: text order
        return str(text.max())
    return str(text[top])
