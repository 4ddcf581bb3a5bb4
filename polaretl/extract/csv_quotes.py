"""Quoting faults of a CSV file that pyarrow's parser accepts without a word.

pyarrow reads a quoted field up to its closing quote and then goes on in unquoted mode,
so ``"x"y`` loads as ``xy``; and a quote left open runs to the end of the file,
swallowing every record after it into one value. Both would load a value the file
does not hold. `quote_problems` finds those records, and only those: a quote inside an
unquoted field (``5'10"``) is data, as pyarrow and PostgreSQL read it.

A file with no quote character is not scanned. A file with quotes is matched by one
regular expression, 8 MiB at a time (about 130 MB/s on a file that quotes every field;
the GIL is released between blocks); only a file that fails it is walked field by
field in Python, to name the records at fault the way pyarrow numbers them (blank
lines skipped).
"""

from __future__ import annotations

import mmap
import re
import shutil
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from typing import BinaryIO, NamedTuple

from polaretl.extract import storage

_BLOCK = 8 << 20
_STREAM_LIMIT = 64 << 20  # bytes `_clean_stream` holds before it takes the cold path
_BOM = b"\xef\xbb\xbf"
_EOL = re.compile(rb"\r\n|\n|\r")
_LINE = re.compile(rb"[^\r\n]+")

#: ``{record ordinal (1 = the first data record): (raw text, message)}``
Problems = dict[int, tuple[str, str]]


class _Patterns(NamedTuple):
    inner: re.Pattern[bytes]  # the longest clean prefix, inside a block
    final: re.Pattern[bytes]  # the same, where the block ends at the end of the file
    field: re.Pattern[bytes]  # one field, with groups `after` and `open`


@lru_cache(maxsize=8)
def _patterns(delimiter: bytes, quote: bytes) -> _Patterns:
    d, q = re.escape(delimiter), re.escape(quote)
    ends = b"[" + d + rb"\r\n]"
    body = q + b"(?:[^" + q + b"]++|" + q + q + b")*+"  # a quoted field up to its close
    opener = b"(?:(?<=" + ends + rb")|(?<![\s\S]))"  # a quote that starts a field
    literal = b"(?<=[^" + d + rb"\r\n])" + q  # a quote inside an unquoted field: data

    def clean(after: bytes) -> re.Pattern[bytes]:
        quoted = opener + body + q + b"(?=" + after + b")"
        return re.compile(b"(?:[^" + q + b"]++|" + quoted + b"|" + literal + b")*+")

    field = re.compile(
        b"(?:" + body + b"(?:" + q + b"(?P<after>[^" + d + rb"\r\n]*)|\Z(?P<open>))"
        b"|[^" + d + rb"\r\n]*)"
    )
    return _Patterns(clean(ends), clean(ends + rb"|\Z"), field)


def quote_problems(
    path: str, delimiter: str, quote: str, encoding: str, header_rows: int
) -> tuple[Problems, bool]:
    """The records of `path` whose quoting pyarrow would load wrongly, and whether the
    file ends inside an open quote.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as f:
        ...     _ = f.write(b'id,v\\n1,a"b\\n2,"x"y\\n3,"ok"\\n')
        >>> quote_problems(f.name, ",", '"', "utf8", 1)
        ({2: ('2,"x"y', "text after the closing quote of a field ('y'), so ...")}, False)
    """
    if not _ascii_compatible(delimiter + quote, encoding):
        return {}, False
    patterns = _patterns(delimiter.encode(), quote.encode())
    if storage.is_remote(path):
        with storage.open_binary(path) as remote:
            if _clean_stream(remote, quote.encode(), patterns):
                return {}, False
            remote.seek(0)
            with tempfile.TemporaryFile() as copy:  # the cold path: a faulty object
                shutil.copyfileobj(remote, copy, _BLOCK)
                return _problems(copy, quote, patterns, delimiter, encoding, header_rows)
    with open(path, "rb") as handle:
        return _problems(handle, quote, patterns, delimiter, encoding, header_rows)


def _problems(
    handle: BinaryIO,
    quote: str,
    patterns: _Patterns,
    delimiter: str,
    encoding: str,
    header_rows: int,
) -> tuple[Problems, bool]:
    """`quote_problems` of an open local file."""
    size = handle.seek(0, 2)
    if size == 0:
        return {}, False
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = len(_BOM) if data[:3] == _BOM else 0
        if data.find(quote.encode(), start) < 0 or _clean(data, start, size, patterns):
            return {}, False
        return _walk(data, start, size, patterns, delimiter.encode(), encoding, header_rows)


def _clean_stream(handle: BinaryIO, quote: bytes, patterns: _Patterns) -> bool:
    """`_clean` over a stream read a block at a time (an object with no mmap)."""
    buf = handle.read(_BLOCK)
    pos = len(_BOM) if buf[:3] == _BOM else 0
    eof = len(buf) < _BLOCK
    while True:
        end = len(buf)
        if pos < end and quote not in buf[pos:]:
            pos = end  # no quote left in this block: clean up to its end
        elif pos < end:
            match = (patterns.final if eof else patterns.inner).match(buf, pos, end)
            reached = match.end() if match else pos
            if reached < end and (eof or end - reached > _STREAM_LIMIT):
                return False  # a fault at `reached` (or a field too long to hold: walk it)
            pos = reached
        if eof:
            return True
        # keep one byte before `pos` for the patterns' look-behind, and read on
        more = handle.read(_BLOCK)
        eof = len(more) < _BLOCK
        keep = max(pos - 1, 0)
        buf, pos = buf[keep:] + more, pos - keep


def _ascii_compatible(chars: str, encoding: str) -> bool:
    probe = chars + "\r\n"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def _clean(data: mmap.mmap, pos: int, size: int, patterns: _Patterns) -> bool:
    """Whether the whole file matches the clean pattern (no fault anywhere)."""
    window = _BLOCK
    while pos < size:
        end = min(pos + window, size)
        pattern = patterns.final if end == size else patterns.inner
        match = pattern.match(data, pos, end)
        reached = match.end() if match else pos
        if reached > pos:
            pos, window = reached, _BLOCK
        elif end == size:
            return False  # no progress up to the end of the file: a fault at `pos`
        else:
            window *= 2  # a quoted field longer than the window
    return True


def _records(
    data: mmap.mmap, pos: int, size: int, patterns: _Patterns, delimiter: bytes
) -> Iterator[tuple[int, int, bool, bytes | None]]:
    """Record by record, field by field (the cold path), blank lines skipped as pyarrow
    skips them: ``(start, end, open quote at the end, text after a closing quote)``."""
    while pos < size:
        start, open_end, after = pos, False, None
        while True:
            found = patterns.field.match(data, pos)
            assert found is not None  # the unquoted alternative matches the empty string
            pos = found.end()
            if found.group("open") is not None:
                open_end = True
            elif found.group("after") and after is None:
                after = found.group("after")
            if data[pos : pos + 1] != delimiter:
                break
            pos += 1
        end = pos
        eol = _EOL.match(data, pos)
        pos = eol.end() if eol else pos
        if end > start:
            yield start, end, open_end, after


def _walk(
    data: mmap.mmap,
    pos: int,
    size: int,
    patterns: _Patterns,
    delimiter: bytes,
    encoding: str,
    header_rows: int,
) -> tuple[Problems, bool]:
    """Every faulty record, numbered as pyarrow does."""
    problems: Problems = {}
    open_at_end = False
    for ordinal, (start, end, open_end, after) in enumerate(
        _records(data, pos, size, patterns, delimiter), start=1
    ):
        if open_end:
            open_at_end = True
            message = "unterminated quote: this record runs to the end of the file"
        elif after is not None:
            shown = after.decode(encoding, "backslashreplace")
            message = (
                f"text after the closing quote of a field ({shown!r}), so the value is "
                "ambiguous (a lenient reader drops the quotes and joins the texts); "
                "quote the whole value, double any quote inside it, and run again"
            )
        else:
            continue
        if ordinal > header_rows:
            text = data[start:end].decode(encoding, "backslashreplace")
            problems[ordinal - header_rows] = (text, message)
    return problems, open_at_end


def long_record(
    path: str, delimiter: str, quote: str | None, encoding: str, header_rows: int, limit: int
) -> int | None:
    """The first data record of `path` (1 = the first after the header) longer than
    `limit` bytes, numbered as pyarrow numbers records; None when there is none (or the
    encoding is not ASCII-compatible). A cold path: it reads the whole file in Python,
    for the error that names such a record.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as f:
        ...     _ = f.write(b'id,v\\n1,a\\n\\n2,"long\\nvalue"\\n3,c\\n')
        >>> long_record(f.name, ",", '"', "utf8", 1, 8)
        2
        >>> long_record(f.name, ",", None, "utf8", 1, 8) is None  # no quoting: lines
        True
    """
    if not _ascii_compatible(delimiter + (quote or ""), encoding):
        return None
    if storage.is_remote(path):
        with storage.open_binary(path) as remote, tempfile.TemporaryFile() as copy:
            shutil.copyfileobj(remote, copy, _BLOCK)  # the cold path: a copy to scan
            return _long_record(copy, delimiter, quote, header_rows, limit)
    with open(path, "rb") as handle:
        return _long_record(handle, delimiter, quote, header_rows, limit)


def _long_record(
    handle: BinaryIO, delimiter: str, quote: str | None, header_rows: int, limit: int
) -> int | None:
    """`long_record` of an open local file."""
    size = handle.seek(0, 2)
    if size == 0:
        return None
    found = None
    with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = len(_BOM) if data[:3] == _BOM else 0
        spans: Iterator[tuple[int, int]]
        if quote is None:  # a record is a line
            spans = (m.span() for m in _LINE.finditer(data, start))
        else:
            patterns = _patterns(delimiter.encode(), quote.encode())
            records = _records(data, start, size, patterns, delimiter.encode())
            spans = ((begin, end) for begin, end, _, _ in records)
        for ordinal, (begin, end) in enumerate(spans, start=1):
            if ordinal > header_rows and end - begin > limit:
                found = ordinal - header_rows
                break
        del spans  # a live scan holds a view of the map, which must close
    return found
