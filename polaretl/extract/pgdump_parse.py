"""Pure parsing of `pg_dump` plain-SQL files: statements, COPY blocks, INSERT values.

Nothing here executes anything: the file is lexed just far enough to find statement
boundaries (quotes, dollar quotes, comments and psql meta-commands are skipped as text),
then only ``COPY ... FROM stdin`` data, ``INSERT`` values, ``CREATE TABLE`` column
lists and two ``SET`` options are interpreted. Every other statement is ignored.

The lexer works on bytes: ``'``, ``"``, ``$``, ``;``, ``\\`` and newline are ASCII, and in
UTF-8 (and the single-byte encodings accepted here) no ASCII byte occurs inside a
multi-byte character, so byte offsets are exact resume points.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import polars as pl

from polaretl.errors import ExtractError

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

_SPECIAL = re.compile(rb"[';\"$/\\-]")
_QUOTE_OR_BS = re.compile(rb"['\\]")
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_IDENT_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$"
) | frozenset(range(0x80, 0x100))
# One complete statement made only of plain text and standard strings (the shape of
# nearly every pg_dump line): matched by one regex call instead of the lexer loop.
_FAST = re.compile(rb"(?:[^'\";$/\\-]++|'(?:[^']|'')*+'(?!')|-(?!-)|/(?!\*))*+;")
_E_STRING = re.compile(rb"(?<![A-Za-z0-9_$\x80-\xff])[eE]'")
_LEADING_WS = re.compile(rb"[ \t\r\n\f]*")

_QNAME = r'(?:"(?:[^"]|"")+"|[^\s(),;."]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s(),;."]+))*'
_COLS = r'\((?P<cols>(?:"(?:[^"]|"")*"|[^")])*)\)'
_COPY_HEAD = re.compile(
    rf"\s*\\?COPY\s+(?P<name>{_QNAME})\s*(?:{_COLS})?\s*FROM\s+(?P<src>[^\s;]+)(?P<opts>.*?);?\s*\Z",
    re.I | re.S,
)
_INSERT_HEAD = re.compile(
    rf"\s*INSERT\s+INTO\s+(?P<name>{_QNAME})\s*(?:{_COLS})?\s*"
    r"(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?VALUES\s*",
    re.I | re.S,
)
_CREATE_HEAD = re.compile(
    rf"\s*CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QNAME})\s*\(",
    re.I | re.S,
)
_SET = re.compile(
    r"\s*SET\s+(?P<key>standard_conforming_strings|client_encoding)\s*(?:=|TO)\s*'?(?P<val>[\w-]+)'?",
    re.I,
)
_KIND = re.compile(rb"\s*(\\?copy|insert|create|set)\b", re.I)

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

#: PostgreSQL client encodings that keep ASCII bytes unambiguous, and Python's names.
ENCODINGS = {
    "UTF8": "utf-8",
    "UNICODE": "utf-8",
    "SQL_ASCII": "utf-8",
    "LATIN1": "iso8859-1",
    "LATIN2": "iso8859-2",
    "LATIN3": "iso8859-3",
    "LATIN4": "iso8859-4",
    "LATIN5": "iso8859-9",
    "LATIN6": "iso8859-10",
    "LATIN7": "iso8859-13",
    "LATIN8": "iso8859-14",
    "LATIN9": "iso8859-15",
    "LATIN10": "iso8859-16",
    "WIN1250": "cp1250",
    "WIN1251": "cp1251",
    "WIN1252": "cp1252",
    "WIN1253": "cp1253",
    "WIN1254": "cp1254",
    "WIN1255": "cp1255",
    "WIN1256": "cp1256",
    "WIN1257": "cp1257",
    "WIN1258": "cp1258",
    "KOI8R": "koi8-r",
    "KOI8U": "koi8-u",
    "EUC_JP": "euc_jp",
    "EUC_KR": "euc_kr",
    "EUC_CN": "gb2312",
}


def python_codec(pg_encoding: str) -> str:
    """Python's codec for a PostgreSQL client encoding.

    Example:
        >>> python_codec("LATIN1"), python_codec("utf-8")
        ('iso8859-1', 'utf-8')
    """
    codec = _ENCODINGS_NORMAL.get(_normal_encoding(pg_encoding))
    if codec is None:
        raise ExtractError(
            f"pg_dump file uses client_encoding {pg_encoding!r}, which polaretl cannot read "
            "safely; re-create the dump with `pg_dump --encoding=UTF8`.",
            encoding=pg_encoding,
        )
    return codec


def _normal_encoding(name: str) -> str:
    return name.upper().replace("-", "").replace("_", "")


_ENCODINGS_NORMAL = {_normal_encoding(k): v for k, v in ENCODINGS.items()}


def open_dump(path: str) -> BinaryIO:
    """Open a dump file for binary reading, decompressing gzip (by its magic bytes)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it


def unquote_ident(ident: str) -> str:
    """An SQL identifier as PostgreSQL stores it: quoted kept as is, unquoted folded.

    Example:
        >>> unquote_ident('"Full Name"'), unquote_ident("Amount")
        ('Full Name', 'amount')
    """
    ident = ident.strip()
    if len(ident) >= 2 and ident[0] == '"' and ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    return ident.lower()


_IDENT_TOKEN = re.compile(r'\s*("(?:[^"]|"")+"|[^\s,."]+)\s*([.,]|\Z)')


def split_identifiers(text: str, sep: str) -> list[str]:
    """Split ``a, "b,c"`` (sep ``,``) or ``public."T"`` (sep ``.``) into unquoted names.

    Example:
        >>> split_identifiers('id, "Full Name", note', ","), split_identifiers('public."T"', ".")
        (['id', 'Full Name', 'note'], ['public', 'T'])
    """
    names: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _IDENT_TOKEN.match(text, pos)
        if m is None or (m.group(2) not in (sep, "")):
            raise ValueError(f"not a list of identifiers: {text!r}")
        names.append(unquote_ident(m.group(1)))
        pos = m.end()
    return names


def parse_table_name(name: str) -> tuple[str | None, str]:
    """``public.customers`` -> ``("public", "customers")``; no schema -> ``(None, name)``.

    Example:
        >>> parse_table_name('public."Order Items"'), parse_table_name("Customers")
        (('public', 'Order Items'), (None, 'customers'))
    """
    parts = split_identifiers(name, ".")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return parts[-2], parts[-1]  # database.schema.table: the database is ignored


def format_table_name(schema: str | None, name: str) -> str:
    """The canonical text of a table name, quoting only where needed."""

    def q(ident: str) -> str:
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", ident):
            return ident
        return '"' + ident.replace('"', '""') + '"'

    return f"{q(schema)}.{q(name)}" if schema else q(name)


def names_match(wanted: tuple[str | None, str], found: tuple[str | None, str]) -> bool:
    """Equal names, and equal schemas when both sides name one."""
    if wanted[1] != found[1]:
        return False
    return wanted[0] is None or found[0] is None or wanted[0] == found[0]


@dataclass
class Statement:
    """One SQL statement (or psql meta-command line) with where it starts."""

    text: bytes
    offset: int  # byte offset of its first byte in the (decompressed) file
    line: int  # 1-based line number of its first byte
    meta: bool = False  # a psql backslash command line


class DumpReader:
    """A buffered reader over a dump that yields statements and COPY data regions.

    It keeps the absolute byte `offset` and the count of newlines consumed (`line`), so
    a reader built with the same values continues exactly where another stopped.
    """

    def __init__(
        self,
        raw: BinaryIO,
        *,
        offset: int = 0,
        line: int = 0,
        block: int = 1 << 20,
        max_statement: int = 64 << 20,
    ) -> None:
        if offset:
            raw.seek(offset)  # gzip seeks by decompressing forward: slow but exact
        self._raw = raw
        self._buf = bytearray()
        self._pos = 0
        self._base = offset
        self._eof = False
        self._block = block
        self.max_statement = max_statement
        self.line = line
        self.standard_strings = True

    @property
    def offset(self) -> int:
        """Absolute offset of the next unread byte."""
        return self._base + self._pos

    def _fill(self, want: int = 0) -> bool:
        if self._eof:
            return False
        data = self._raw.read(max(want, self._block))
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _compact(self) -> None:
        if self._pos > (1 << 20) or self._pos == len(self._buf):
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0

    def _advance(self, end: int) -> None:
        self.line += self._buf.count(b"\n", self._pos, end)
        self._pos = end

    def _need(self, start: int) -> bool:
        """Read more of a statement that starts at `start`; False at end of file."""
        if len(self._buf) - start > self.max_statement:
            raise ExtractError(
                f"a statement at line {self.line + 1} is longer than {self.max_statement} "
                "bytes (an unterminated quote?); fix the file or raise max_statement_bytes.",
                line=self.line + 1,
            )
        return self._fill(len(self._buf) - start)

    def next_statement(self) -> Statement | None:
        """The next statement or meta-command, skipping blank lines and ``--`` comments."""
        self._compact()
        buf = self._buf
        while True:
            m = _LEADING_WS.match(buf, self._pos)
            assert m is not None
            if m.end() == len(buf):
                self._advance(m.end())
                if not self._fill():
                    return None
                continue
            self._advance(m.end())
            if buf.startswith(b"--", self._pos) or buf.startswith(b"\\", self._pos):
                meta = buf[self._pos] == 0x5C
                nl = buf.find(b"\n", self._pos)
                while nl < 0 and self._need(self._pos):
                    nl = buf.find(b"\n", self._pos)
                end = len(buf) if nl < 0 else nl + 1
                if meta:
                    stmt = Statement(bytes(buf[self._pos : end]), self.offset, self.line + 1, True)
                    self._advance(end)
                    return stmt
                self._advance(end)
                continue
            if buf.startswith(b"/*", self._pos):  # a leading block comment
                close = self._token_end(self._pos, self._pos, 0x2F)
                while close is None and self._need(self._pos):
                    close = self._token_end(self._pos, self._pos, 0x2F)
                self._advance(len(buf) if close is None else close)
                continue
            break
        start = self._pos
        end = self._scan(start)
        stmt = Statement(bytes(buf[start:end]), self.offset, self.line + 1)
        self._advance(end)
        return stmt

    def _scan(self, start: int) -> int:
        """Index just after the ``;`` ending the statement at `start` (or end of file)."""
        buf = self._buf
        if self.standard_strings:
            m = _FAST.match(buf, start)
            if m is not None and not _E_STRING.search(buf, start, m.end()):
                return m.end()
        i = start
        while True:
            m = _SPECIAL.search(buf, i)
            if m is None:
                i = len(buf)
                if not self._need(start):
                    return len(buf)
                continue
            j = m.start()
            c = buf[j]
            nxt = self._token_end(start, j, c)
            if nxt is None:  # the token runs past the buffer: read more, lex it again
                if not self._need(start):
                    return len(buf)
                i = j
                continue
            if nxt < 0:
                return j + 1  # the ';'
            i = nxt

    def _token_end(self, start: int, j: int, c: int) -> int | None:
        """End of the token starting with byte `c` at `j`; -1 for ``;``; None: need more."""
        buf = self._buf
        n = len(buf)
        if c == 0x3B:  # ;
            return -1
        if c == 0x27:  # '
            escape = not self.standard_strings or (
                j > start
                and buf[j - 1] in b"eE"
                and (j - 1 == start or buf[j - 2] not in _IDENT_BYTES)
            )
            k = j + 1
            while True:
                if escape:
                    m = _QUOTE_OR_BS.search(buf, k)
                    if m is None:
                        return None
                    k = m.start()
                    if buf[k] == 0x5C:
                        if k + 1 >= n:
                            return None
                        k += 2
                        continue
                else:
                    k = buf.find(b"'", k)
                    if k < 0:
                        return None
                if k + 1 >= n and not self._eof:
                    return None  # could be the first of a doubled ''
                if k + 1 < n and buf[k + 1] == 0x27:
                    k += 2
                    continue
                return k + 1
        if c == 0x22:  # "
            k = j + 1
            while True:
                k = buf.find(b'"', k)
                if k < 0 or (k + 1 >= n and not self._eof):
                    return None
                if k + 1 < n and buf[k + 1] == 0x22:
                    k += 2
                    continue
                return k + 1
        if c == 0x24:  # $
            if j > start and buf[j - 1] in _IDENT_BYTES:
                return j + 1  # part of an identifier such as a$b
            m = _DOLLAR_TAG.match(buf, j)
            if m is None:
                return None if n - j < 64 and not self._eof else j + 1
            close = buf.find(m.group(0), m.end())
            return None if close < 0 else close + len(m.group(0))
        if c == 0x2D or c == 0x5C:  # -- comment, or a psql meta-command inside a statement
            if c == 0x2D and not buf.startswith(b"--", j):
                return None if j + 1 >= n and not self._eof else j + 1
            nl = buf.find(b"\n", j)
            return None if nl < 0 else nl + 1
        # / : a (nested) block comment or a plain slash
        if not buf.startswith(b"/*", j):
            return None if j + 1 >= n and not self._eof else j + 1
        depth, k = 1, j + 2
        while depth:
            a, b = buf.find(b"/*", k), buf.find(b"*/", k)
            if b < 0:
                return None
            if 0 <= a < b:
                depth, k = depth + 1, a + 2
            else:
                depth, k = depth - 1, b + 2
        return k

    def copy_region(self, window: int) -> tuple[bytes, bool]:
        """Whole COPY data lines from here, up to about `window` bytes.

        Returns:
            ``(region, at_end)``: `region` holds complete lines (each ending in a
            newline, except a last line at end of file); `at_end` is True when the
            ``\\.`` terminator (or the end of the file) follows the region.
        """
        self._compact()
        buf = self._buf
        while True:
            pos = self._pos
            limit = min(len(buf), pos + window)
            t = self._find_terminator(pos, limit)
            if t >= 0:
                with memoryview(buf) as view:
                    return bytes(view[pos:t]), True
            if len(buf) < pos + window + 3 and self._fill(pos + window + 3 - len(buf)):
                continue
            if self._eof and len(buf) <= pos + window:
                with memoryview(buf) as view:
                    return bytes(view[pos:]), True
            nl = buf.rfind(b"\n", pos, limit)
            if nl < 0:
                window *= 2  # one line longer than the window
                continue
            with memoryview(buf) as view:
                return bytes(view[pos : nl + 1]), False

    def line_region(self, window: int) -> bytes:
        """Whole lines from here (each ending in a newline), up to about `window` bytes."""
        self._compact()
        buf = self._buf
        while True:
            pos = self._pos
            if len(buf) < pos + window and self._fill(pos + window - len(buf)):
                continue
            nl = buf.rfind(b"\n", pos, pos + window)
            if nl < 0 and not self._eof and len(buf) >= pos + window:
                window *= 2
                continue
            with memoryview(buf) as view:
                return bytes(view[pos : nl + 1]) if nl >= 0 else b""

    def rest_of_line_blank(self) -> bool:
        """Consume the rest of this line when it holds only blanks; say whether it did."""
        buf = self._buf
        m = _LEADING_WS.match(buf, self._pos)
        assert m is not None
        nl = buf.find(b"\n", self._pos, m.end())
        if nl < 0:
            return False
        self._advance(nl + 1)
        return True

    def _find_terminator(self, pos: int, limit: int) -> int:
        buf = self._buf
        k = pos
        while True:
            k = buf.find(b"\\.", k, limit)
            if k < 0:
                return -1
            if k == pos or buf[k - 1] == 0x0A:
                rest = buf[k + 2 : k + 4]
                if (
                    rest[:1] == b"\n"
                    or rest == b"\r\n"
                    or (not rest and self._eof)
                    or (rest == b"\r" and self._eof)
                ):
                    return k
            k += 2

    def consume(self, nbytes: int, nlines: int) -> None:
        """Mark `nbytes` holding `nlines` newlines as read."""
        self._pos += nbytes
        self.line += nlines

    def skip_terminator(self) -> None:
        """Consume the ``\\.`` line that ends a COPY block (if there is one)."""
        buf = self._buf
        if buf.startswith(b"\\.", self._pos):
            nl = buf.find(b"\n", self._pos)
            self._advance(len(buf) if nl < 0 else nl + 1)

    def start_copy(self, meta: bool = False) -> None:
        """Step past the rest of a COPY header's line: the data starts on the next line
        (a psql ``\\copy`` meta-command has consumed its whole line already)."""
        if meta:
            return
        buf = self._buf
        nl = buf.find(b"\n", self._pos)
        while nl < 0 and self._fill():
            nl = buf.find(b"\n", self._pos)
        self._advance(len(buf) if nl < 0 else nl + 1)

    def skip_copy(self, meta: bool = False) -> None:
        """Skip a whole COPY data block (of a table nobody asked for)."""
        self.start_copy(meta)
        while True:
            region, at_end = self.copy_region(8 << 20)
            self._advance(self._pos + len(region))
            if at_end:
                self.skip_terminator()
                return
            self._compact()


# --------------------------------------------------------------------------- statements


@dataclass
class CopyHeader:
    """``COPY name (cols) FROM stdin``: a data block follows."""

    table: tuple[str | None, str]
    columns: list[str] | None
    from_stdin: bool
    options: str


@dataclass
class InsertStatement:
    """``INSERT INTO name [(cols)] VALUES ...``: `values_at` is where the tuples begin."""

    table: tuple[str | None, str]
    columns: list[str] | None
    text: str
    values_at: int


@dataclass
class CreateTable:
    """``CREATE TABLE name (...)``: the column names and which are generated."""

    table: tuple[str | None, str]
    columns: list[str]
    generated: list[int]


def statement_kind(stmt: Statement) -> str | None:
    """``copy``, ``insert``, ``create`` or ``set``; None for anything else (ignored)."""
    m = _KIND.match(stmt.text)
    return m.group(1).decode().lower().lstrip("\\") if m else None


def parse_copy(text: str) -> CopyHeader | None:
    """Parse a ``COPY`` statement or psql ``\\copy`` line; None if it is not one."""
    m = _COPY_HEAD.match(text)
    if m is None:
        return None
    cols = m.group("cols")
    src = m.group("src").lower().strip("'\"")
    return CopyHeader(
        table=parse_table_name(m.group("name")),
        columns=split_identifiers(cols, ",") if cols is not None and cols.strip() else None,
        from_stdin=src in ("stdin", "pstdin"),
        options=m.group("opts").strip(),
    )


def parse_insert_head(text: str) -> InsertStatement | None:
    """Parse the head of an ``INSERT``; None when it is not one polaretl understands."""
    m = _INSERT_HEAD.match(text)
    if m is None:
        return None
    cols = m.group("cols")
    try:
        table = parse_table_name(m.group("name"))
        columns = split_identifiers(cols, ",") if cols is not None else None
    except ValueError:
        return None
    return InsertStatement(table, columns, text, m.end())


_CT_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[(),]|[^'\"(),]+", re.S)
_NOT_COLUMN = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE", "LIKE"}
_QUOTED_IDENT = re.compile(r'"(?:[^"]|"")+"')
_GENERATED = re.compile(r"\bGENERATED\s+ALWAYS\s+AS\s*\(", re.I)


def parse_create_table(text: str) -> CreateTable | None:
    """Column names of a ``CREATE TABLE``; None for forms without a column list."""
    m = _CREATE_HEAD.match(text)
    if m is None:
        return None
    depth = 1
    items: list[str] = []
    current: list[str] = []
    for tok in _CT_TOKEN.findall(text, m.end()):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                items.append("".join(current))
                break
        elif tok == "," and depth == 1:
            items.append("".join(current))
            current = []
            continue
        current.append(tok)
    columns: list[str] = []
    generated: list[int] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        quoted = _QUOTED_IDENT.match(item)
        if quoted is not None:
            first = quoted.group(0)
        else:
            first = item.split(None, 1)[0]
            if first.upper() in _NOT_COLUMN:
                continue
        if _GENERATED.search(item):
            generated.append(len(columns))
        columns.append(unquote_ident(first))
    return CreateTable(parse_table_name(m.group("name")), columns, generated)


def parse_set(text: str) -> tuple[str, str] | None:
    """``SET standard_conforming_strings = on`` -> ``("standard_conforming_strings", "on")``."""
    m = _SET.match(text)
    return (m.group("key").lower(), m.group("val")) if m else None


# --------------------------------------------------------------------------- COPY data


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

    return _COPY_ESCAPE.sub(repl, value.encode(codec)).decode(codec)


def copy_frame(
    region: bytes, columns: Sequence[str], codec: str, newlines: int | None = None
) -> tuple[pl.DataFrame, pl.Series, list[tuple[int, str, str]]]:
    """Parse COPY text-format lines into a String frame, vectorised.

    Args:
        region: whole data lines (newline-terminated, except maybe the last).
        columns: the COPY header's column names.
        codec: Python codec of the file (UTF-8 is parsed without re-encoding).
        newlines: ``region.count(b"\\n")`` when the caller already knows it.

    Returns:
        ``(frame, kept, bad)``: the parsed rows, the 0-based line index (within the
        region) of each kept row, and ``(index, raw line, reason)`` of rejected lines.

    Example:
        >>> f, kept, bad = copy_frame(b"1\\ta\\\\tb\\n2\\t\\\\N\\n3\\n", ["id", "s"], "utf-8")
        >>> f.rows(), kept.to_list(), bad
        ([('1', 'a\\tb'), ('2', None)], [0, 1], [(2, '3', 'expected 2 fields, found 1')])
    """
    ncols = len(columns)
    if codec != "utf-8":
        region = region.decode(codec).encode("utf-8")
    if region and not region.endswith(b"\n"):
        region += b"\n"
        newlines = None
    nlines = region.count(b"\n") if newlines is None or codec != "utf-8" else newlines
    bad: list[tuple[int, str, str]] = []
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
    return _copy_unescape_frame(frame, region), kept, bad


def _copy_frame_slow(
    region: bytes, columns: Sequence[str]
) -> tuple[pl.DataFrame, pl.Series, list[tuple[int, str, str]]]:
    """Line-by-line split for blocks with bad lines (cold path)."""
    ncols = len(columns)
    raw_lines = region[:-1].split(b"\n")
    texts: list[str] = []
    idx: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for i, raw in enumerate(raw_lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append((i, raw.decode("utf-8", "replace"), f"not valid UTF-8: {exc.reason}"))
            continue
        if text.endswith("\r"):
            text = text[:-1]
        found = text.count("\t") + 1
        if found != ncols:
            bad.append((i, text, f"expected {ncols} fields, found {found}"))
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


def _copy_unescape_frame(frame: pl.DataFrame, region: bytes) -> pl.DataFrame:
    exprs = [
        pl.when(pl.col(c).str.contains(_BS, literal=True))
        .then(pl.col(c).str.replace_many(_COPY_PATTERNS, _COPY_REPLACEMENTS))
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    ]
    if _ODD_HINT.search(region) is None:
        return frame.with_columns(exprs)
    # Rare: octal / hex / other escapes. Decode those fields one by one in Python.
    odd = frame.select(pl.col(c).str.contains(_ODD_ESCAPE).fill_null(False) for c in frame.columns)
    out = frame.with_columns(exprs)
    for c in frame.columns:
        mask = odd.get_column(c)
        if not mask.any():
            continue
        rows = mask.arg_true()
        fixed = [copy_unescape(v) for v in frame.get_column(c).gather(rows).to_list()]
        out = out.with_columns(out.get_column(c).scatter(rows, fixed))
    return out


# --------------------------------------------------------------------------- INSERT data


def insert_tuples(
    stmt: InsertStatement, standard_strings: bool = True
) -> list[tuple[int, str, list[str]]] | None:
    """Each tuple of an INSERT: where it starts, its text and its value tokens.

    Returns None when the statement cannot be parsed as a whole.

    Example:
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


def decode_token_frame(raw: pl.DataFrame, standard_strings: bool) -> pl.DataFrame:
    """`decode_tokens` on a frame of raw tokens (one String column per value)."""
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
        fixed = [_slow_token(t, standard_strings) for t in raw.get_column(c).gather(idx).to_list()]
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
