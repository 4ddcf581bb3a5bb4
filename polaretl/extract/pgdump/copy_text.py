"""Decoding the data lines of ``COPY ... FROM stdin`` blocks (text format) into frames."""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

#: psql reads COPY data in text format; these are the escapes PostgreSQL writes.
_BS = "\\"
_COPY_PATTERNS = [_BS + _BS, _BS + "n", _BS + "t", _BS + "r", _BS + "b", _BS + "f", _BS + "v"]
_COPY_REPLACEMENTS = [_BS, "\n", "\t", "\r", "\b", "\f", "\v"]
# A backslash escape other than the seven above (octal, hex, or "any other character"):
# an odd run of backslashes followed by something else. Only these need Python.
_ODD_ESCAPE = r"(?:^|[^\\])(?:\\\\)*\\[^\\nrtbfv]"
_ODD_HINT = re.compile(rb"\\[^\\nrtbfvN\n]")
_COPY_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)
_COPY_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def copy_unescape(value: str, codec: str = "utf-8") -> str:
    """Decode one COPY text field with every escape PostgreSQL accepts (cold path).

    Octal and hex escapes stand for bytes of the file's encoding.

    Example:
        >>> copy_unescape(r"a\\tb\\\\c\\101\\x42\\q")
        'a\\tb\\\\cABq'
    """

    def repl(m: re.Match[bytes]) -> bytes:
        esc = m.group(1)
        if esc[:1] == b"x" and len(esc) > 1:
            return bytes([int(esc[1:], 16)])
        if esc[:1].isdigit() and esc[:1] in b"01234567":
            return bytes([int(esc, 8) & 0xFF])
        return _COPY_SIMPLE.get(esc, esc)

    # strict: an escape that makes bytes which are not text raises UnicodeDecodeError
    return _COPY_ESCAPE.sub(repl, value.encode(codec)).decode(codec)


def copy_frame(
    region: bytes, columns: Sequence[str], codec: str, newlines: int | None = None
) -> tuple[pl.DataFrame, pl.Series, list[tuple[int, str, str, str]]]:
    """Parse COPY text-format lines into a String frame, vectorised.

    Args:
        region: whole data lines (newline-terminated, except maybe the last).
        columns: the COPY header's column names.
        codec: Python codec of the file (UTF-8 is parsed without re-encoding).
        newlines: ``region.count(b"\\n")`` when the caller already knows it.

    Returns:
        ``(frame, kept, bad)``: the parsed rows, the 0-based line index (within the
        region) of each kept row, and ``(index, raw line, check, reason)`` of rejected
        lines (check ``field_count``, or ``encoding``: bytes, or escapes making bytes,
        that are not UTF-8; such a raw line keeps them as surrogateescape characters).

    Example:
        >>> f, kept, bad = copy_frame(b"1\\ta\\\\tb\\n2\\t\\\\N\\n3\\n", ["id", "s"], "utf-8")
        >>> f.rows(), kept.to_list()
        ([('1', 'a\\tb'), ('2', None)], [0, 1])
        >>> bad
        [(2, '3', 'field_count', 'expected 2 fields, found 1')]
    """
    ncols = len(columns)
    if codec != "utf-8":
        region = region.decode(codec).encode("utf-8")
    if region and not region.endswith(b"\n"):
        region += b"\n"
        newlines = None
    nlines = region.count(b"\n") if newlines is None or codec != "utf-8" else newlines
    bad: list[tuple[int, str, str, str]] = []
    frame: pl.DataFrame | None = None
    if nlines == 0:
        return (
            pl.DataFrame(schema={c: pl.String for c in columns}),
            pl.Series("line", [], pl.Int64),
            bad,
        )
    if ncols > 1 and region.count(b"\t") == nlines * (ncols - 1):
        # If no line has too many fields (read_csv raises) and the total is right,
        # every line has exactly ncols fields.
        try:
            frame = pl.read_csv(
                region,
                separator="\t",
                has_header=False,
                quote_char=None,
                infer_schema=False,
                empty_string_is_null=False,
                new_columns=list(columns),
                raise_if_empty=False,
                comment_prefix=None,
                null_values=["\\N"],
            )
        except pl.exceptions.PolarsError:
            frame = None
        if frame is not None and frame.height != nlines:
            frame = None
        kept = pl.Series("line", range(nlines), pl.Int64) if frame is not None else None
    if frame is None:
        frame, kept, bad = _copy_frame_slow(region, columns)
    assert kept is not None
    frame, faults = _copy_unescape_frame(frame, region)
    if faults:  # escapes that make bytes which are not UTF-8 (\xff): those lines rejected
        rows = sorted(faults)
        lines = region[:-1].split(b"\n")
        for row in rows:
            index = int(kept[row])
            text = lines[index].decode("utf-8").removesuffix("\r")
            bad.append((index, text, "encoding", f"column {faults[row]}: {_NOT_TEXT}"))
        keep = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True).scatter(rows, False)
        frame, kept = frame.filter(keep), kept.filter(keep)
        bad.sort()
    return frame, kept, bad


_NOT_TEXT = (
    "its escapes make bytes that are not UTF-8, which PostgreSQL text cannot store (nor "
    "would PostgreSQL load this line)"
)


def _copy_frame_slow(
    region: bytes, columns: Sequence[str]
) -> tuple[pl.DataFrame, pl.Series, list[tuple[int, str, str, str]]]:
    """Line-by-line split for blocks with bad lines (cold path)."""
    ncols = len(columns)
    raw_lines = region[:-1].split(b"\n")
    texts: list[str] = []
    idx: list[int] = []
    bad: list[tuple[int, str, str, str]] = []
    for i, raw in enumerate(raw_lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # kept as received (surrogateescape): escaped and named in the quarantine
            shown = raw.decode("utf-8", "surrogateescape")
            bad.append((i, shown, "encoding", f"not valid UTF-8: {exc.reason}"))
            continue
        if text.endswith("\r"):
            text = text[:-1]
        found = text.count("\t") + 1
        if found != ncols:
            bad.append((i, text, "field_count", f"expected {ncols} fields, found {found}"))
            continue
        texts.append(text)
        idx.append(i)
    lines = pl.Series("l", texts, pl.String)
    if ncols == 1:
        frame = lines.alias(columns[0]).to_frame()
    else:
        frame = lines.str.split_exact("\t", ncols - 1).struct.unnest()
        frame.columns = list(columns)
    frame = frame.with_columns(
        pl.when(pl.col(c) == "\\N").then(None).otherwise(pl.col(c)).alias(c) for c in columns
    )
    return frame, pl.Series("line", idx, pl.Int64), bad


def _copy_unescape_frame(frame: pl.DataFrame, region: bytes) -> tuple[pl.DataFrame, dict[int, str]]:
    """The frame with its escapes decoded, and ``{row: column}`` of the values whose
    escapes make bytes that are not UTF-8 (their value is null)."""
    faults: dict[int, str] = {}
    exprs = [
        pl.when(pl.col(c).str.contains(_BS, literal=True))
        .then(pl.col(c).str.replace_many(_COPY_PATTERNS, _COPY_REPLACEMENTS))
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    ]
    if _ODD_HINT.search(region) is None:
        return frame.with_columns(exprs), faults
    # Rare: octal / hex / other escapes. Decode those fields one by one in Python.
    odd = frame.select(pl.col(c).str.contains(_ODD_ESCAPE).fill_null(False) for c in frame.columns)
    out = frame.with_columns(exprs)
    for c in frame.columns:
        mask = odd.get_column(c)
        if not mask.any():
            continue
        rows = mask.arg_true()
        fixed: list[str | None] = []
        for row, value in zip(
            rows.to_list(), frame.get_column(c).gather(rows).to_list(), strict=True
        ):
            try:
                fixed.append(copy_unescape(value))
            except UnicodeDecodeError:
                fixed.append(None)
                faults.setdefault(row, c)
        out = out.with_columns(out.get_column(c).scatter(rows, pl.Series(fixed, dtype=pl.String)))
    return out, faults
