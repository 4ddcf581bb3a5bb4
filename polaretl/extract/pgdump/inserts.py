"""Decoding the value tuples of ``INSERT`` statements into frames."""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from polaretl.extract.pgdump.copy_text import _BS
from polaretl.extract.pgdump.statements import InsertStatement

# One SQL value as pg_dump writes it, with an optional cast (hand-written files).
# One SQL value as pg_dump writes it (strings first: the common case), or as a person
# might (odd-case keywords, E'' / B'' / X'' strings, a cast). Unrolled string loops and
# no IGNORECASE keep Python's regex engine fast here.
_KEYWORD = "|".join(
    "".join(f"[{ch.upper()}{ch.lower()}]" for ch in word)
    for word in ("null", "default", "true", "false")
)
_E_BODY = r"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'(?!')"
_VALUE = (
    r"(?:{plain}|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|NULL\b|true\b|false\b|DEFAULT\b"
    rf"|(?:{_KEYWORD})\b|[eE]{_E_BODY}|[bBxX]'[0-9a-fA-F]*')"
    r"(?:\s*::\s*[A-Za-z_][\w ]*?(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\[\])*(?=\s*[,)]))?"
)
_NUMBER = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
_PLAIN = {True: r"'[^']*(?:''[^']*)*'(?!')", False: _E_BODY}


def _value_regexes(standard: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
    value = _VALUE.replace("{plain}", _PLAIN[standard])
    row = rf"\s*\(\s*({value}(?:\s*,\s*{value})*)\s*\)\s*(,|;|\Z|[Oo][Nn]\b)"
    return re.compile(value, re.S), re.compile(row, re.S)


#: (one value, one tuple) for standard_conforming_strings on / off.
_VALUE_RES = {True: _value_regexes(True), False: _value_regexes(False)}
_TAIL = re.compile(r"\s*(?:ON\s+CONFLICT\s+DO\s+NOTHING\s*)?;?\s*\Z", re.I | re.S)
_E_ESCAPE = re.compile(
    rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|''", re.S
)
_E_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t"}


def insert_tuples(
    stmt: InsertStatement, standard_strings: bool = True
) -> list[tuple[int, str, list[str]]] | None:
    """Each tuple of an INSERT: where it starts, its text and its value tokens.

    Returns None when the statement cannot be parsed as a whole.

    Example:
        >>> from polaretl.extract.pgdump.statements import parse_insert_head
        >>> s = parse_insert_head("INSERT INTO t VALUES (1, 'a''b'), (NULL, E'x\\\\n');")
        >>> [tokens for _, _, tokens in insert_tuples(s)]
        [['1', "'a''b'"], ['NULL', "E'x\\\\n'"]]
    """
    text = stmt.text
    pos = stmt.values_at
    value_re, tuple_re = _VALUE_RES[standard_strings]
    out: list[tuple[int, str, list[str]]] = []
    while True:
        m = tuple_re.match(text, pos)
        if m is None:
            return None
        out.append((m.start(1) - 1, "(" + m.group(1) + ")", value_re.findall(m.group(1))))
        pos = m.end()
        if m.group(2) != ",":
            if m.group(2).upper() == "ON":
                pos = m.start(2)
            return out if _TAIL.match(text, pos) else None


def e_string(body: str, codec: str = "utf-8") -> str:
    """Decode the body of an ``E'...'`` string literal (cold path).

    Example:
        >>> e_string(r"it\\'s\\tok\\101\\u00e9''")
        "it's\\tokAé'"
    """

    def repl(m: re.Match[bytes]) -> bytes:
        esc = m.group(1)
        if esc is None:
            return b"'"
        head = esc[:1]
        if head == b"x" and len(esc) > 1:
            return bytes([int(esc[1:], 16)])
        if head in b"01234567" and head.isdigit():
            return bytes([int(esc, 8) & 0xFF])
        if head in (b"u", b"U") and len(esc) > 1:
            return chr(int(esc[1:], 16)).encode(codec)
        return _E_SIMPLE.get(esc, esc)

    return _E_ESCAPE.sub(repl, body.encode(codec)).decode(codec)


def _slow_token(token: str, standard_strings: bool) -> str | None:
    """Decode a value token the vectorised path leaves alone (casts, E'', B'', X'')."""
    tok = token
    if "::" in tok:
        tok = re.sub(r"\s*::[^']*\Z", "", tok)
    head = tok[:1]
    if head in ("e", "E") and tok[1:2] == "'":
        return e_string(tok[2:-1])
    if head in ("b", "B") and tok[1:2] == "'":
        return tok[2:-1]
    if head in ("x", "X") and tok[1:2] == "'":
        hexdigits = tok[2:-1]
        return "".join(f"{int(h, 16):04b}" for h in hexdigits)
    if head == "'":
        return tok[1:-1].replace("''", "'") if standard_strings else e_string(tok[1:-1])
    upper = tok.upper()
    if upper in ("NULL", "DEFAULT"):
        return None
    if upper in ("TRUE", "FALSE"):
        return upper[0].lower()
    return tok


def decode_tokens(
    rows: list[list[str]], columns: Sequence[str], standard_strings: bool
) -> pl.DataFrame:
    """Turn raw value tokens (one list per row) into a String frame, vectorised.

    ``NULL``/``DEFAULT`` become null, ``true``/``false`` become ``t``/``f`` (as COPY
    writes them), strings lose their quotes, numbers stay as written.

    Example:
        >>> decode_tokens([["1", "'it''s'", "NULL", "true"]], ["a", "b", "c", "d"], True).rows()
        [('1', "it's", None, 't')]
    """
    raw = pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")
    return decode_token_frame(raw, standard_strings)


#: why a value whose escapes make no text (``E'\\xff'``, ``E'\\ud800'``) is rejected
NOT_TEXT = (
    "its escapes make text that is not valid UTF-8 (a byte that is not UTF-8, a lone "
    "surrogate), which PostgreSQL text cannot store (nor would PostgreSQL load it)"
)


def decode_token_frame(
    raw: pl.DataFrame, standard_strings: bool, faults: dict[int, str] | None = None
) -> pl.DataFrame:
    """`decode_tokens` on a frame of raw tokens (one String column per value).

    `faults`, when given, receives ``{row: column}`` of values whose escapes make no
    text (their value is null); without it such a value raises `UnicodeError`.
    """
    exprs: list[pl.Expr] = []
    masks: list[pl.Expr] = []
    for c in raw.columns:
        col = pl.col(c)
        plain = col.str.starts_with("'") & col.str.ends_with("'") & (col.str.len_bytes() > 1)
        if not standard_strings:
            plain = plain & ~col.str.contains(_BS, literal=True)
        number = col.str.contains(_NUMBER)
        null = col.is_in(["NULL", "DEFAULT"])
        boolean = col.is_in(["true", "false"])
        exprs.append(
            pl.when(plain)
            .then(
                col.str.strip_prefix("'")
                .str.strip_suffix("'")
                .str.replace_all("''", "'", literal=True)
            )
            .when(number)
            .then(col)
            .when(null)
            .then(None)
            .when(boolean)
            .then(col.str.head(1))
            .otherwise(col)
            .alias(c)
        )
        # Everything else (E'', B'', X'', casts, odd-case keywords) is decoded in Python.
        masks.append((col.is_not_null() & ~(plain | number | null | boolean)).alias(f"slow {c}"))
    both = raw.select(*exprs, *masks)
    out = both.select(raw.columns)
    for c in raw.columns:
        mask = both.get_column(f"slow {c}")
        if not mask.any():
            continue
        idx = mask.arg_true()
        fixed: list[str | None] = []
        for row, token in zip(idx.to_list(), raw.get_column(c).gather(idx).to_list(), strict=True):
            try:
                fixed.append(_slow_token(token, standard_strings))
            except UnicodeError:
                if faults is None:
                    raise
                fixed.append(None)
                faults.setdefault(row, c)
        out = out.with_columns(out.get_column(c).scatter(idx, pl.Series(fixed, dtype=pl.String)))
    return out


# The value grammar again, for Polars' (Rust) regex engine: used to accept whole lines
# that are each one complete single-row INSERT, the shape `pg_dump --inserts` writes.
_RS_VALUE = (
    r"(?:(?i:NULL|DEFAULT|TRUE|FALSE)|'(?:[^']|'')*'|[eE]'(?:[^'\\]|\\.|'')*'"
    r"|[bBxX]'[0-9a-fA-F]*'|[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
)


def insert_lines(
    lines: pl.Series, head: str, ncols: int
) -> tuple[pl.DataFrame, int, int, pl.Series]:
    """Tokens of the leading statements ``HEAD(v1, ..., vn);`` in `lines`, vectorised.

    A statement starts on a line that starts with `head` and takes the lines after it
    that do not (strings holding newlines). Each one is checked against the whole
    value grammar, so a statement accepted here is exactly one the lexer would find;
    the first one that does not match (another statement, a comment, one cut off at the
    end of `lines`, or the last one before such a line, which joins it) ends the run.

    Args:
        lines: text lines (without their newline).
        head: the statement text before the tuple, e.g. ``INSERT INTO public.t VALUES ``.
        ncols: values per tuple.

    Returns:
        ``(tokens, statements, used, first)``: raw value tokens (columns ``0..ncols-1``)
        of the first `statements` statements, the lines they fill, and the index of
        each one's first line.

    Example:
        >>> lines = pl.Series(["INSERT INTO t VALUES (1, 'a');", "INSERT INTO t VALUES (2, 'b",
        ...                    "c');", "INSERT INTO t VALUES (3, 'x');", "SELECT 1;"])
        >>> t, n, used, first = insert_lines(lines, "INSERT INTO t VALUES ", 2)
        >>> t.rows(), n, used, first.to_list()
        ([('1', "'a'"), ('2', "'b\\nc'")], 2, 3, [0, 1])
    """
    empty = pl.DataFrame(schema={str(i): pl.String for i in range(ncols)})
    starts = lines.str.starts_with(head).fill_null(False)
    if lines.is_empty() or not starts[0]:
        return empty, 0, 0, pl.Series("first", [], pl.UInt32)
    frame = pl.DataFrame({"line": lines, "id": starts.cum_sum()}).with_row_index("first")
    if starts.all():  # the usual case: one line, one statement
        groups = frame.with_columns(n=pl.lit(1, pl.UInt32))
    else:  # join only the statements that run over several lines
        multi = frame.filter(pl.col("id").is_in(frame.filter(~starts).get_column("id").implode()))
        joined = multi.group_by("id", maintain_order=True).agg(
            pl.col("first").first(), pl.col("line").str.join("\n"), pl.len().alias("n")
        )
        single = frame.filter(~pl.col("id").is_in(multi.get_column("id").implode()))
        groups = pl.concat(
            [single.with_columns(n=pl.lit(1, pl.UInt32)), joined], how="diagonal_relaxed"
        ).sort("id")
    body = r"(?s)^\(\s*" + _RS_VALUE + (r"\s*,\s*" + _RS_VALUE) * (ncols - 1)
    tuples = groups.get_column("line").str.strip_prefix(head)
    ok = tuples.str.contains(body + r"\s*\)\s*;\s*$")
    bad = (~ok.fill_null(False)).arg_true()
    n = int(bad[0]) if len(bad) else groups.height
    found = tuples.head(n).str.extract_all("(?s)" + _RS_VALUE)
    tokens = pl.DataFrame({str(i): found.list.get(i) for i in range(ncols)}) if n else empty
    used = int(groups.get_column("n").head(n).sum())
    return tokens, n, used, groups.get_column("first").head(n)


def insert_groups(
    lines: pl.Series, head: str, ncols: int
) -> tuple[pl.DataFrame, pl.Series, pl.Series, pl.Series]:
    """Tokens of the leading multi-row statements in `lines` (``--rows-per-insert``).

    A statement starts on a line that is exactly `head` (``INSERT INTO t VALUES``) and
    takes the lines up to the next such line; it must be ``(...), ..., (...);`` under
    the whole value grammar, else the run ends before it.

    Returns:
        ``(tokens, rows, spans, line_of_row)``: raw tokens of every tuple, the tuples
        and the lines of each accepted statement, and each tuple's line index within
        `lines` (where its ``(`` is).

    Example:
        >>> lines = pl.Series(["INSERT INTO t VALUES", "\\t(1, 'a'),", "\\t(2, 'b');",
        ...                    "INSERT INTO t VALUES", "\\t(3, 'c');", "SELECT 1;"])
        >>> t, rows, spans, at = insert_groups(lines, "INSERT INTO t VALUES", 2)
        >>> t.rows(), rows.to_list(), spans.to_list(), at.to_list()
        ([('1', "'a'"), ('2', "'b'")], [2], [3], [1, 2])
    """
    empty = pl.DataFrame(schema={str(i): pl.String for i in range(ncols)})
    none = pl.Series("n", [], pl.UInt32)
    starts = (lines.str.strip_chars_end() == head).fill_null(False)
    if lines.is_empty() or not starts[0]:
        return empty, none, none, pl.Series("at", [], pl.Int64)
    groups = (
        pl.DataFrame({"line": lines, "id": starts.cum_sum()})
        .with_row_index("first")
        .group_by("id", maintain_order=True)
        .agg(pl.col("line").str.join("\n"), pl.col("first").first(), pl.len().alias("n"))
    )
    one = r"\(\s*" + _RS_VALUE + (r"\s*,\s*" + _RS_VALUE) * (ncols - 1) + r"\s*\)"
    bodies = groups.get_column("line").str.slice(len(head))
    ok = bodies.str.contains(rf"(?s)^\s*{one}(?:\s*,\s*{one})*\s*;\s*$")
    bad = (~ok.fill_null(False)).arg_true()
    n = int(bad[0]) if len(bad) else groups.height
    if n == 0:
        return empty, none, none, pl.Series("at", [], pl.Int64)
    accepted = groups.head(n).with_columns(
        tuple=bodies.head(n).str.extract_all(rf"(?s)\s*,?\s*{one}")
    )
    rows = accepted.select(
        "first",
        "tuple",
        rows=pl.col("tuple").list.len(),
        stmt=pl.int_range(pl.len()),
    ).explode("tuple")
    # line of a tuple's "(": its statement's first line, the newlines of the tuples before
    # it in the statement, and those in its own leading separator
    before = pl.col("tuple").str.splitn("(", 2).struct.field("field_0").str.count_matches("\n")
    total = pl.col("tuple").str.count_matches("\n")
    at = rows.select(
        (pl.col("first").cast(pl.Int64) + (total.cum_sum() - total).over("stmt") + before).alias(
            "at"
        )
    ).to_series()
    found = rows.get_column("tuple").str.extract_all("(?s)" + _RS_VALUE)
    tokens = pl.DataFrame({str(i): found.list.get(i) for i in range(ncols)})
    return tokens, accepted.get_column("tuple").list.len(), groups.get_column("n").head(n), at
