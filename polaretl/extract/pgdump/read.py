"""Reading a `pg_dump` plain-SQL file as a stream of statements and COPY data regions.

Nothing here executes anything: the file is lexed just far enough to find statement
boundaries (quotes, dollar quotes, comments and psql meta-commands are skipped as text).
It also opens the file (gzip or not) and maps its ``client_encoding`` to a Python codec.

The lexer works on bytes: ``'``, ``"``, ``$``, ``;``, ``\\`` and newline are ASCII, and in
UTF-8 (and the single-byte encodings accepted here) no ASCII byte occurs inside a
multi-byte character, so byte offsets are exact resume points.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from typing import BinaryIO

from polaretl.errors import ExtractError
from polaretl.extract import storage

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
    """Open a dump file (or object) for binary reading, decompressing gzip (by its magic
    bytes)."""
    if storage.is_remote(path):
        handle = storage.open_binary(path)  # closed with the gzip reader (or by the caller)
        if handle.peek(2)[:2] == b"\x1f\x8b":
            return _ClosingGzip(fileobj=handle)  # type: ignore[return-value]
        return handle
    path = storage.local_path(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it


class _ClosingGzip(gzip.GzipFile):
    """A gzip reader that closes the object stream it reads when it is closed."""

    def close(self) -> None:
        inner = self.fileobj
        try:
            super().close()
        finally:
            if isinstance(inner, io.IOBase):
                inner.close()


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
