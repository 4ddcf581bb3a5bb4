"""Text PostgreSQL cannot store, found and shown the same way whatever the source.

A PostgreSQL text value (and jsonb) holds UTF-8 without NUL, so three things a source
can hand over cannot be loaded, nor kept in the quarantine's ``raw`` as they are: a NUL
character (``"\\u0000"`` in JSON, ``\\000`` in COPY text, a NUL byte in a file), a lone
surrogate (``"\\ud800"`` in JSON) and bytes that are not UTF-8. The record that holds
one is quarantined with an error naming its column (check ``nul_byte`` or ``encoding``;
the message names the record's source, file:line, URL#index or key), and the rest of
its source loads.

The record's ``raw`` keeps such a value in a form that round-trips:

- in a column an error with ``"escaped": true`` names (check ``nul_byte`` or
  ``encoding``; ``column`` null: the whole raw record), *every* string is written with
  backslash escapes: ``\\\\`` for a backslash, ``\\x00`` for NUL, ``\\xNN`` for a
  byte that is not UTF-8, ``\\udNNN`` for a lone surrogate; other characters as they
  are;
- `unescape` turns such a string back into the value received; bytes that were not
  UTF-8 come back as Python's ``surrogateescape`` characters, so
  ``unescape(text).encode("utf-8", "surrogateescape")`` is the bytes received.

Other columns, and records without such a value, are kept exactly as received. The
same rule holds wherever a record reaches the quarantine: `screen` (every chunk of every
source, vectorised), `storable_record` (`reject_frame`, the extractors' rejects) and
`storable_json` (the quarantine writer's last line, for rejects built some other way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from polaretl.core import REJECT_SCHEMA, Chunk

#: The checks of a value PostgreSQL cannot store.
CHECKS = ("nul_byte", "encoding")

_MESSAGES = {
    "nul_byte": "holds a NUL character (shown as \\x00), which PostgreSQL text cannot "
    "store; remove it from the source",
    "encoding": "is not valid UTF-8 text (a byte that is not UTF-8 is shown as \\xNN, a "
    "lone surrogate as \\udNNN), which PostgreSQL text cannot store; fix the source's "
    "encoding",
}
_UNESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4}))")
_SURROGATE = re.compile("[\ud800-\udfff]")
# JSON text that may hold a NUL or a lone surrogate: a NUL or surrogate escape, or a NUL
# (a cheap test; `storable_json` looks closer; Polars text cannot hold a surrogate)
_JSON_HINT = r"\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\x00"


def fault(value: str | bytes | None) -> str | None:
    """``encoding`` or ``nul_byte`` when `value` cannot be a PostgreSQL text value.

    Example:
        >>> fault("ok"), fault("a\\x00b"), fault("\\ud800"), fault(b"caf\\xe9"), fault(None)
        (None, 'nul_byte', 'encoding', 'encoding', None)
    """
    if value is None:
        return None
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        text.encode("utf-8")
    except UnicodeError:
        return "encoding"
    return "nul_byte" if "\x00" in text else None


def escape(value: str | bytes) -> str:
    """`value` with backslash escapes (see the module's docstring): always storable.

    Example:
        >>> print(escape("a\\\\b\\x00c\\ud800"), escape(b"caf\\xe9"))
        a\\\\b\\x00c\\ud800 caf\\xe9
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    text = value.replace("\\", "\\\\").replace("\x00", "\\x00")
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def unescape(text: str) -> str:
    """The value `escape` was given (bytes that were not UTF-8 as ``surrogateescape``).

    Example:
        >>> unescape(escape("a\\\\b\\x00c\\ud800")) == "a\\\\b\\x00c\\ud800"
        True
        >>> unescape(escape(b"caf\\xe9")).encode("utf-8", "surrogateescape")
        b'caf\\xe9'
    """

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return "\\"
        if m.group(2):
            byte = int(m.group(2), 16)
            return chr(byte if byte < 0x80 else 0xDC00 + byte)
        return chr(int(m.group(3), 16))

    return _UNESCAPE.sub(one, text)


def message(check: str, column: str | None, source: str | None = None) -> str:
    """The error message of a value `check` found (see `CHECKS`)."""
    where = f"column {column}" if column is not None else "the record"
    return f"{source + ': ' if source else ''}{where} {_MESSAGES[check]}"


def fault_in(value: Any) -> str | None:
    """The first `fault` in a JSON-like value (strings, keys, nested lists and dicts)."""
    if isinstance(value, str | bytes):
        return fault(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = fault_in(key) or fault_in(item)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for item in value:
            found = fault_in(item)
            if found:
                return found
    return None


def _escaped(value: Any) -> Any:
    """Every string of a JSON-like value escaped (keys too)."""
    if isinstance(value, str | bytes):
        return escape(value)
    if isinstance(value, dict):
        return {escape(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def storable_record(
    raw: Any, errors: list[dict[str, Any]], source: str | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """`raw` and `errors` of one quarantined record, made storable by the rule of the
    module's docstring: each field (of an object; else the whole raw) holding a value
    PostgreSQL cannot store is escaped and named by an error with ``"escaped": true``
    (the record's error of that column and check, else a new one). The errors' own
    strings are escaped where needed.

    Example:
        >>> raw, errors = storable_record({"id": "1", "v": "a\\x00b"}, [], "a.json:3")
        >>> raw, [(e["column"], e["check"], e["escaped"]) for e in errors]
        ({'id': '1', 'v': 'a\\\\x00b'}, [('v', 'nul_byte', True)])
    """
    # a field's value is escaped alone; a fault in a key (or a raw that is no object)
    # escapes the whole record, keys too (escaping one key could make it equal another)
    keys = isinstance(raw, dict) and fault_in(list(raw)) is not None
    fields = raw.items() if isinstance(raw, dict) and not keys else [(None, raw)]
    found = {name: check for name, value in fields if (check := fault_in(value))}
    if found:
        errors = [
            {**e, "escaped": True} if found.get(e.get("column"), "") == e.get("check") else e
            for e in errors
        ]
        named = {e.get("column") for e in errors if e.get("escaped")}
        errors += [
            {
                "column": name,
                "check": check,
                "value": escape(value) if name is not None and isinstance(value, str) else None,
                "message": message(check, name, source),
                "escaped": True,
            }
            for name, check in found.items()
            if name not in named
            for value in [raw[name] if name is not None else raw]
        ]
        if None in found:
            raw = _escaped(raw)
        else:
            raw = {k: (_escaped(v) if k in found else v) for k, v in raw.items()}
    if fault_in(errors):
        errors = _escaped(errors)
    return raw, errors


def storable_json(frame: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows (``source``, ``raw`` and ``errors`` as JSON text) made storable
    in jsonb: rows whose JSON holds a NUL or a lone surrogate go through
    `storable_record` (a cold path; other rows are not touched).

    Example:
        >>> rows = pl.DataFrame({"source": ["x:1"], "raw": ['{"v": "a\\\\u0000"}'],
        ...                      "errors": ["[]"]})
        >>> storable_json(rows)["raw"].to_list()
        ['{"v": "a\\\\\\\\x00"}']
    """
    if frame.height == 0:
        return frame
    nul = pl.col("source").str.contains("\x00", literal=True).fill_null(False)
    frame = frame.with_columns(  # a label made of a value (a key) with a NUL
        pl.when(nul)
        .then(pl.col("source").map_batches(_escape_text, pl.String))
        .otherwise(pl.col("source"))
    )
    hint = pl.col("raw").str.contains(_JSON_HINT) | pl.col("errors").str.contains(_JSON_HINT)
    flags = frame.select(hint.fill_null(False).alias("h")).to_series()
    if not flags.any():
        return frame
    fixed = []
    for source, raw, errors in frame.filter(flags).select("source", "raw", "errors").rows():
        value, errs = storable_record(json.loads(raw), json.loads(errors), source)
        fixed.append((json.dumps(value, ensure_ascii=False), json.dumps(errs, ensure_ascii=False)))
    index = pl.Series(range(frame.height)).filter(flags)
    return frame.with_columns(
        frame["raw"].clone().scatter(index, pl.Series([r for r, _ in fixed], dtype=pl.String)),
        frame["errors"].clone().scatter(index, pl.Series([e for _, e in fixed], dtype=pl.String)),
    )


def screen(chunk: Chunk, columns: Sequence[str] | None = None) -> Chunk:
    """Move the rows of `chunk` whose text holds a NUL to its rejects (raw escaped as
    above, an error per column naming the row's source), for every source alike.
    `columns`: the columns that are loaded (default: all); a NUL elsewhere is kept in
    the raw record and escaped only if the record is quarantined for another reason.

    One vectorised ``str.contains`` per text column; rows are only built for rows that
    hold a NUL. (Polars text is UTF-8, so a NUL is the one fault a frame can hold; a
    source that hands over bytes or Python strings checks them itself.)
    """
    frame = chunk.frame
    loaded = set(frame.columns if columns is None else columns)
    text = [c for c, t in frame.schema.items() if t == pl.String and c in loaded]
    if not text or frame.height == 0:
        return chunk
    nul = {c: pl.col(c).str.contains("\x00", literal=True).fill_null(False) for c in text}
    flags = frame.select(pl.any_horizontal(*nul.values()).alias("nul")).to_series()
    if not flags.any():
        return chunk

    labels = chunk.source_labels()
    bad = frame.filter(flags)
    which = bad.select(*(e.alias(c) for c, e in nul.items())).rows()
    shown = bad.with_columns(
        pl.when(e).then(pl.col(c).map_batches(_escape_text, pl.String)).otherwise(pl.col(c))
        for c, e in nul.items()
    )
    errors = [
        json.dumps(
            [
                {
                    "column": c,
                    "check": "nul_byte",
                    "value": value,
                    "message": message("nul_byte", c, label),
                    "escaped": True,
                }
                for c, has, value in zip(text, flags_row, values, strict=True)
                if has
            ],
            ensure_ascii=False,
        )
        for label, flags_row, values in zip(
            labels.filter(flags), which, shown.select(text).rows(), strict=True
        )
    ]
    rejects = pl.DataFrame(
        {
            "source": labels.filter(flags),
            "raw": shown.select(pl.struct(pl.all()).struct.json_encode()).to_series(),
            "errors": pl.Series(errors, dtype=pl.String),
        },
        schema=REJECT_SCHEMA,
    )
    parts = [p for p in (chunk.rejects, rejects) if p is not None]
    return replace(
        chunk,
        frame=frame.filter(~flags),
        sources=labels.filter(~flags),
        rejects=pl.concat(parts),
        received=chunk.received,
    )


def _escape_text(values: pl.Series) -> pl.Series:
    """`escape` on a text column, vectorised (Polars text can hold NUL, never a lone
    surrogate or a byte that is not UTF-8)."""
    return values.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        "\x00", "\\x00", literal=True
    )
