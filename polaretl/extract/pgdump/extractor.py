"""`PgDumpExtractor`: the rows of chosen tables from `pg_dump` plain-SQL files.

Reads ``COPY ... FROM stdin`` blocks (text format) and ``INSERT`` statements (from
``--inserts``, ``--column-inserts`` and ``--rows-per-insert``) as a stream, gzip or not,
without executing anything: psql meta-commands, ``COPY ... FROM PROGRAM``, functions and
``DO`` blocks are lexed as text and ignored (see `read.py`).

Slices are ``FILE::TABLE``. A position is::

    {"fp": fingerprint, "offset": byte offset, "line": newlines consumed,
     "skip": tuples of the INSERT at offset already read, "copy": COPY columns or None,
     "records": records so far, "done": bool, ...parser settings}

so a resumed read seeks straight to the next unread record. A changed file (new
fingerprint) is read again from the start; an unchanged, finished one yields nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from polaretl.errors import ConfigError, ExtractError
from polaretl.extract.base import Chunk, Extractor, reject_frame
from polaretl.extract.files import expand_glob, fingerprint, matching_files
from polaretl.extract.pgdump.copy_text import copy_frame
from polaretl.extract.pgdump.inserts import (
    NOT_TEXT,
    decode_token_frame,
    insert_groups,
    insert_lines,
    insert_tuples,
)
from polaretl.extract.pgdump.names import format_table_name, names_match, parse_table_name
from polaretl.extract.pgdump.read import DumpReader, Statement, open_dump, python_codec
from polaretl.extract.pgdump.statements import (
    CopyHeader,
    parse_copy,
    parse_create_table,
    parse_insert_head,
    parse_set,
    statement_kind,
)

_LOOSE_STDIN = re.compile(r"\bFROM\s+p?stdin\b", re.I)
_LOOSE_INSERT = re.compile(
    r'\s*INSERT\s+INTO\s+((?:"(?:[^"]|"")+"|[^\s(."]+)(?:\.(?:"(?:[^"]|"")+"|[^\s(."]+))?)', re.I
)
_TEXT_OPTIONS = re.compile(r"\A(?:WITH\s*)?(?:\(\s*FORMAT\s+text\s*\)|(?:\(\s*\))?)?\s*\Z", re.I)


@dataclass
class _Cursor:
    """Where a slice's read stands; `position()` is what a chunk commits."""

    fp: str
    offset: int = 0
    line: int = 0
    skip: int = 0
    copy: list[str] | None = None
    records: int = 0
    done: bool = False
    standard_strings: bool = True
    encoding: str = "UTF8"
    table_columns: list[str] | None = None
    generated: list[int] = field(default_factory=list)
    seen: bool = False

    def position(self) -> dict[str, Any]:
        return asdict(self)


class _Batch:
    """Rows, per-row sources and rejects gathered for the next chunk."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.sources: list[pl.Series] = []
        self.reject_src: list[str] = []
        self.reject_raw: list[str] = []
        self.reject_err: list[list[dict[str, Any]]] = []
        self.count = 0

    def add(self, frame: pl.DataFrame, sources: pl.Series) -> None:
        if frame.height:
            self.frames.append(frame)
            self.sources.append(sources)
            self.count += frame.height

    def reject(self, source: str, raw: str, check: str, message: str, line: int) -> None:
        self.reject_src.append(source)
        self.reject_raw.append(raw)
        self.reject_err.append(
            [{"column": None, "check": check, "value": None, "message": message, "line": line}]
        )
        self.count += 1

    def chunk(
        self, source: str, position: dict[str, Any], columns: Sequence[str], bytes_read: int
    ) -> Chunk:
        if self.frames:
            frame = (
                pl.concat(self.frames, how="diagonal") if len(self.frames) > 1 else self.frames[0]
            )
            sources = pl.concat(self.sources)
        else:
            frame = pl.DataFrame(schema={c: pl.String for c in columns})
            sources = pl.Series("source", [], pl.String)
        rejects = (
            reject_frame(self.reject_src, self.reject_raw, self.reject_err)
            if self.reject_src
            else None
        )
        return Chunk(
            frame,
            source=source,
            position=position,
            sources=sources,
            rejects=rejects,
            bytes_read=bytes_read,
        )


class PgDumpExtractor(Extractor):
    """Rows of chosen tables from `pg_dump` plain-SQL files (``.sql`` or ``.sql.gz``).

    Every value is text (``NULL`` -> null, an empty string stays ``""``); booleans read
    as ``t``/``f`` whether the dump used COPY or INSERTs; the contract casts.

    Args:
        paths: a file, a glob (``data/dumps/*.sql*``) or a list of them.
        tables: table names, schema-qualified to be exact (``public.customers``; an
            unqualified name matches that table in any schema). None: every table
            with data in the files (found by reading them once in `slices()`).
        copy_window: bytes of COPY data parsed per vectorised step.
        max_statement_bytes: the longest statement accepted (guards against an
            unterminated quote swallowing the file).
        missing_ok: succeed with nothing to do when no file matches (default: fail, so
            a wrong path is not a silent empty run).

    Example:
        >>> ex = PgDumpExtractor("data/dumps/*.sql", tables=["public.customers"])
        >>> ex.describe()
        'pgdump data/dumps/*.sql tables=public.customers'
    """

    kind = "pgdump"

    def __init__(
        self,
        paths: str | Sequence[str],
        tables: Sequence[str] | None = None,
        *,
        copy_window: int = 8 << 20,
        max_statement_bytes: int = 64 << 20,
        missing_ok: bool = False,
    ) -> None:
        self.patterns = [paths] if isinstance(paths, str) else list(paths)
        if isinstance(tables, str):
            tables = [tables]
        self.tables = list(tables) if tables is not None else None
        for name in self.tables or []:
            try:
                parse_table_name(name)
            except ValueError as exc:
                raise ConfigError(
                    f"PgDumpExtractor: {name!r} is not a table name; write it as "
                    'schema.table (quote mixed-case names: public."Orders").'
                ) from exc
        self.copy_window = copy_window
        self.max_statement_bytes = max_statement_bytes
        self.missing_ok = missing_ok

    def describe(self) -> str:
        tables = ",".join(self.tables) if self.tables is not None else "*"
        return f"pgdump {' '.join(self.patterns)} tables={tables}"

    def files(self) -> list[str]:
        """The files the patterns match now, sorted (empty when none match)."""
        return expand_glob(self.patterns)

    def slices(self) -> list[str]:
        """One slice per (file, table): ``data/dumps/a.sql::public.customers``."""
        out: list[str] = []
        files = matching_files(
            self.patterns,
            missing_ok=self.missing_ok,
            shown=" ".join(self.patterns),
            what="dump file",
        )
        for path in files:
            names = self.tables if self.tables is not None else self._tables_in(path)
            out.extend(f"{path}::{name}" for name in names)
        return out

    def _tables_in(self, path: str) -> list[str]:
        """Tables with data (COPY or INSERT) in a file, in file order."""
        found: list[str] = []
        with open_dump(path) as raw:
            reader = DumpReader(raw, max_statement=self.max_statement_bytes)
            while (stmt := reader.next_statement()) is not None:
                kind = statement_kind(stmt)
                text = stmt.text.decode("utf-8", "replace")
                table: tuple[str | None, str] | None = None
                if kind == "copy":
                    head = parse_copy(text)
                    if head is not None and head.from_stdin:
                        table = head.table
                    if head is not None and head.from_stdin or _LOOSE_STDIN.search(text):
                        reader.skip_copy(stmt.meta)
                elif kind == "insert":
                    ins = parse_insert_head(text)
                    table = ins.table if ins is not None else None
                elif kind == "set":
                    self._apply_set(text, reader, None)
                if table is not None and format_table_name(*table) not in found:
                    found.append(format_table_name(*table))
        return found

    @staticmethod
    def _apply_set(text: str, reader: DumpReader, cur: _Cursor | None) -> None:
        setting = parse_set(text)
        if setting is None:
            return
        key, value = setting
        if key == "standard_conforming_strings":
            reader.standard_strings = value.lower() in ("on", "true", "1", "yes")
            if cur is not None:
                cur.standard_strings = reader.standard_strings
        elif cur is not None:
            python_codec(value)  # fails early on an encoding polaretl cannot read
            cur.encoding = value

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        path, sep, table_text = slice.rpartition("::")
        if not sep:
            raise ConfigError(f"PgDumpExtractor: slice {slice!r} is not FILE::TABLE.")
        if chunk_size < 1:
            raise ConfigError("chunk_size must be at least 1")
        wanted = parse_table_name(table_text)
        fp = fingerprint(path)
        if state is not None and state.get("fp") == fp:
            if state.get("done"):
                return
            fields = {k: v for k, v in state.items() if k in _Cursor.__dataclass_fields__}
            cur = _Cursor(**fields)
        else:
            cur = _Cursor(fp=fp)
        with open_dump(path) as raw:
            reader = DumpReader(
                raw, offset=cur.offset, line=cur.line, max_statement=self.max_statement_bytes
            )
            reader.standard_strings = cur.standard_strings
            yield from _SliceReader(self, path, table_text, wanted, reader, cur, chunk_size).run()


class _SliceReader:
    """Reads one (file, table) slice; one instance per `read` call."""

    def __init__(
        self,
        ex: PgDumpExtractor,
        path: str,
        table_text: str,
        wanted: tuple[str | None, str],
        reader: DumpReader,
        cur: _Cursor,
        chunk_size: int,
    ) -> None:
        self.ex, self.path, self.table_text, self.wanted = ex, path, table_text, wanted
        self.reader, self.cur, self.chunk_size = reader, cur, chunk_size
        self.batch = _Batch()
        self.columns: list[str] = list(cur.copy or cur.table_columns or [])
        self.start_offset = cur.offset
        self.found: list[str] = []
        # INSERT rows wait here as raw tokens and are decoded once per chunk.
        self.rows: list[list[str]] = []
        self.labels: list[str] = []
        self.row_columns: list[str] = []
        self.parked: list[tuple[pl.DataFrame, pl.Series]] = []  # raw tokens, in file order
        self.parked_count = 0
        # how many lines the vectorised INSERT path looks at next, and its back-off
        self._probe, self._cooldown, self._fails = 256, 0, 0

    def _emit(self, offset: int, line: int, skip: int = 0) -> Chunk:
        cur = self.cur
        self._flush_rows()
        cur.offset, cur.line, cur.skip = offset, line, skip
        cur.records += self.batch.count
        chunk = self.batch.chunk(
            f"{self.path}:{self.table_text}",
            cur.position(),
            self.columns,
            self.reader.offset - self.start_offset,
        )
        cur.skip = 0
        self.start_offset = self.reader.offset
        self.batch = _Batch()
        return chunk

    def _count(self) -> int:
        return self.batch.count + len(self.rows) + self.parked_count

    def _full(self) -> bool:
        return self._count() >= self.chunk_size

    def _emit_here(self) -> Chunk:
        return self._emit(self.reader.offset, self.reader.line)

    def run(self) -> Iterator[Chunk]:
        cur, reader = self.cur, self.reader
        while True:
            if cur.copy is not None:
                yield from self._copy_block(cur.copy)
                continue
            stmt = reader.next_statement()
            if stmt is None:
                break
            kind = statement_kind(stmt)
            if kind is None:
                continue
            codec = python_codec(cur.encoding)
            try:
                text, bad_text = stmt.text.decode(codec), ""
            except UnicodeDecodeError as exc:
                # kept as received (surrogateescape): escaped and named in the quarantine
                text = stmt.text.decode(codec, "surrogateescape")
                bad_text = f"not valid {codec}: {exc.reason} at byte {exc.start}"
            if kind == "copy":
                self._copy_header(stmt, text)
            elif kind == "insert":
                yield from self._insert(stmt, text, bad_text)
            elif kind == "create":
                table = parse_create_table(text)
                if table is not None and names_match(self.wanted, table.table):
                    cur.table_columns, cur.generated, cur.seen = (
                        table.columns,
                        table.generated,
                        True,
                    )
                    self.columns = self.columns or list(table.columns)
            elif kind == "set":
                self._flush_rows()  # rows parsed so far decode under the old settings
                self.ex._apply_set(text, reader, cur)
            if self._full():
                yield self._emit_here()
        if not cur.seen and cur.records + self._count() == 0:
            raise ExtractError(
                f"table {self.table_text} not found in {self.path}: no CREATE TABLE, COPY or "
                f"INSERT names it. Tables with data there: {', '.join(self.found) or 'none'}. "
                "Check the tables= names (schema-qualified, e.g. public.customers).",
                path=self.path,
                table=self.table_text,
            )
        cur.done = True
        yield self._emit_here()

    def _copy_header(self, stmt: Statement, text: str) -> None:
        head: CopyHeader | None = parse_copy(text)
        if head is None or not head.from_stdin:
            if head is None and _LOOSE_STDIN.search(text):
                self.reader.skip_copy(stmt.meta)  # an odd COPY header: skip its data too
            return
        name = format_table_name(*head.table)
        if name not in self.found:
            self.found.append(name)
        if not names_match(self.wanted, head.table):
            self.reader.skip_copy(stmt.meta)
            return
        if head.options and not _TEXT_OPTIONS.match(head.options):
            raise ExtractError(
                f"{self.path}:{stmt.line}: COPY options {head.options!r} are not supported; "
                "polaretl reads the text format pg_dump writes.",
                path=self.path,
                line=stmt.line,
            )
        columns = head.columns or self.cur.table_columns
        if columns is None:
            raise ExtractError(
                f"{self.path}:{stmt.line}: COPY {name} names no columns and no CREATE TABLE "
                "for it comes earlier in the file; add the column list.",
                path=self.path,
            )
        self.reader.start_copy(stmt.meta)
        self._flush_rows()  # keep file order
        self.cur.copy, self.cur.seen = list(columns), True
        self.columns = list(columns)

    def _copy_block(self, columns: list[str]) -> Iterator[Chunk]:
        """Read one COPY block's lines, `copy_window` bytes at a time, vectorised."""
        reader, cur = self.reader, self.cur
        codec = python_codec(cur.encoding)
        while True:
            room = self.chunk_size - self._count()
            region, at_end = reader.copy_region(self.ex.copy_window)
            newlines = region.count(b"\n")
            if newlines + (1 if region and not region.endswith(b"\n") else 0) > room:
                region = region[: _nth_newline_end(region, room)]
                newlines, at_end = room, False
            first_line = reader.line + 1
            frame, kept, bad = copy_frame(region, columns, codec, newlines)
            reader.consume(len(region), newlines)
            numbers = (kept + first_line).cast(pl.String)
            sources = pl.select(pl.concat_str(pl.lit(f"{self.path}:"), pl.lit(numbers)))
            self.batch.add(frame, sources.to_series().alias("source"))
            for idx, raw, check, reason in bad:
                self.batch.reject(
                    f"{self.path}:{first_line + idx}",
                    raw,
                    check,
                    f"malformed COPY line: {reason}",
                    first_line + idx,
                )
            if at_end:
                reader.skip_terminator()
                cur.copy = None
            if self._full():
                yield self._emit_here()
            if at_end:
                return

    def _insert(self, stmt: Statement, text: str, bad_text: str = "") -> Iterator[Chunk]:
        cur = self.cur
        skip, cur.skip = (cur.skip if stmt.offset == cur.offset else 0), 0
        ins = parse_insert_head(text)
        if ins is None:
            loose = _LOOSE_INSERT.match(text)
            table = _safe_table(loose.group(1)) if loose else None
            if table is not None and names_match(self.wanted, table) and not skip:
                self.batch.reject(
                    f"{self.path}:{stmt.line}",
                    text,
                    "parse",
                    "unparsable INSERT statement",
                    stmt.line,
                )
            return
        name = format_table_name(*ins.table)
        if name not in self.found:
            self.found.append(name)
        if not names_match(self.wanted, ins.table):
            return
        cur.seen = True
        tuples = None if bad_text else insert_tuples(ins, cur.standard_strings)
        if tuples is None:
            if not skip:
                self.batch.reject(
                    f"{self.path}:{stmt.line}",
                    text,
                    "parse",
                    bad_text or "unparsable INSERT statement (bad VALUES list)",
                    stmt.line,
                )
            return
        columns = ins.columns or cur.table_columns
        drop = [] if ins.columns else cur.generated
        if columns is None:
            msg = (
                "INSERT without column names and no CREATE TABLE for the table earlier "
                "in the file; dump with --column-inserts"
            )
            for start, raw, _ in tuples[skip:]:
                line = stmt.line + text.count("\n", 0, start)
                self.batch.reject(f"{self.path}:{line}", raw, "columns", msg, line)
            return
        out_cols = [c for i, c in enumerate(columns) if i not in drop]
        if out_cols != self.row_columns:
            self._flush_rows()
            self.row_columns = out_cols
        ncols, path = len(columns), self.path
        line, last, n = stmt.line, 0, skip
        for start, _, _ in tuples[:skip]:
            line += text.count("\n", last, start)
            last = start
        while n < len(tuples):
            # a tight loop: one list append per tuple; decoding is vectorised later
            end = min(len(tuples), n + self.chunk_size - self._count())
            rows, labels = self.rows, self.labels
            for start, raw, tokens in tuples[n:end]:
                line += text.count("\n", last, start)
                last = start
                if len(tokens) == ncols:
                    rows.append(
                        [t for i, t in enumerate(tokens) if i not in drop] if drop else tokens
                    )
                    labels.append(f"{path}:{line}")
                else:
                    self.batch.reject(
                        f"{path}:{line}",
                        raw,
                        "field_count",
                        f"expected {ncols} values, found {len(tokens)}",
                        line,
                    )
            n = end
            if self._full() and n < len(tuples):
                yield self._emit(stmt.offset, stmt.line - 1, n)
        if not cur.standard_strings:
            return
        head = text[: ins.values_at]
        if len(tuples) == 1 and "\n" not in text:
            if self._cooldown > 0:
                self._cooldown -= 1
            else:
                self._insert_lines(head, len(columns), drop, out_cols, len(text))
        elif len(tuples) > 1 and head.rstrip() == text.split("\n", 1)[0].rstrip():
            # the head alone on the first line, a tuple per line: pg_dump --rows-per-insert
            if self._cooldown > 0:
                self._cooldown -= 1
            else:
                per_row = len(text) // len(tuples) + 1
                self._insert_groups(head.rstrip(), len(columns), drop, out_cols, per_row)

    def _insert_groups(
        self, head: str, ncols: int, drop: list[int], out_cols: list[str], row_bytes: int
    ) -> None:
        """`_insert_lines` for runs of multi-row statements (``--rows-per-insert``):
        whole statements only, so every chunk still ends on a statement boundary."""
        reader = self.reader
        if python_codec(self.cur.encoding) != "utf-8" or not reader.rest_of_line_blank():
            return
        keep = [str(i) for i in range(ncols) if i not in drop]
        while not self._full():
            room = self.chunk_size - self._count()
            want = min(self._probe, room + room // 8 + 64)
            window = min(self.ex.copy_window, max(4096, want * (row_bytes * 3 // 2 + 16)))
            region = reader.line_region(window)
            try:
                text = region.decode("utf-8")
            except UnicodeDecodeError:
                return
            lines = pl.Series(text.split("\n")[:-1], dtype=pl.String).head(want)
            tokens, rows, spans, at = insert_groups(lines, head, ncols)
            fits = int((rows.cum_sum() <= room).sum())  # whole statements that fit the chunk
            used = int(spans.head(fits).sum())
            nrows = int(rows.head(fits).sum())
            self._adapt(nrows, used, len(lines))
            if fits == 0:
                return
            first_line = reader.line + 1
            reader.consume(int(lines.head(used).str.len_bytes().sum()) + used, used)
            self._park_rows()
            raw = tokens.head(nrows).select(keep)
            raw.columns = out_cols
            numbers = (at.head(nrows) + first_line).cast(pl.String)
            sources = pl.select(pl.concat_str(pl.lit(f"{self.path}:"), pl.lit(numbers)))
            self.parked.append((raw, sources.to_series().alias("source")))
            self.parked_count += nrows
            if used < len(lines):
                return

    def _adapt(self, rows: int, used: int, seen: int) -> None:
        """Grow the vectorised step while whole steps succeed; back off when runs are
        too short to pay for one (the statement path is cheaper there)."""
        if rows < 32 and used < seen:
            self._fails += 1
            self._cooldown = min(4096, 4 << self._fails)
            self._probe = 256
        elif used < seen:
            self._probe = max(256, 2 * used)
        else:
            self._fails, self._probe = 0, min(self._probe * 4, 1 << 20)

    def _insert_lines(
        self, head: str, ncols: int, drop: list[int], out_cols: list[str], line_bytes: int
    ) -> None:
        """Take the following lines that are single-row INSERTs with the same head in
        vectorised steps (the shape of ``pg_dump --inserts``), until one is not.

        A step costs about as much as the lines it looks at, so it looks at `_probe`
        lines, growing while whole steps succeed; where multi-line statements (strings
        holding newlines) break the runs short, it backs off to the statement path.
        """
        reader = self.reader
        if python_codec(self.cur.encoding) != "utf-8" or not reader.rest_of_line_blank():
            return
        keep = [str(i) for i in range(ncols) if i not in drop]
        while not self._full():
            want = min(self._probe, self.chunk_size - self._count())
            window = min(self.ex.copy_window, max(4096, want * (line_bytes * 3 // 2 + 16)))
            region = reader.line_region(window)
            try:
                text = region.decode("utf-8")
            except UnicodeDecodeError:
                return  # the statement path rejects the bad line
            lines = pl.Series(text.split("\n")[:-1], dtype=pl.String).head(want)
            tokens, n, used, first = insert_lines(lines, head, ncols)
            self._adapt(n, used, len(lines))
            if n == 0:
                return
            first_line = reader.line + 1
            reader.consume(int(lines.head(used).str.len_bytes().sum()) + used, used)
            self._park_rows()
            raw = tokens.select(keep)
            raw.columns = out_cols
            numbers = (first.cast(pl.Int64) + first_line).cast(pl.String)
            sources = pl.select(pl.concat_str(pl.lit(f"{self.path}:"), pl.lit(numbers)))
            self.parked.append((raw, sources.to_series().alias("source")))
            self.parked_count += n
            if used < len(lines):
                return

    def _park_rows(self) -> None:
        """Move the row lists into a raw token frame (no decoding yet), keeping order."""
        if self.rows:
            raw = pl.DataFrame(
                self.rows, schema={c: pl.String for c in self.row_columns}, orient="row"
            )
            self.parked.append((raw, pl.Series("source", self.labels, pl.String)))
            self.parked_count += len(self.rows)
            self.rows, self.labels = [], []

    def _flush_rows(self) -> None:
        """Decode every waiting INSERT row into the batch, in one vectorised pass."""
        self._park_rows()
        if self.parked:
            self.columns = self.columns or list(self.row_columns)
            raw = pl.concat([f for f, _ in self.parked])
            sources = pl.concat([s for _, s in self.parked])
            faults: dict[int, str] = {}
            frame = decode_token_frame(raw, self.cur.standard_strings, faults)
            if faults:  # E'\xff', E'\ud800': not text; the row is rejected as written
                rows = sorted(faults)
                for row in rows:
                    label = str(sources[row])
                    tokens = ", ".join(str(t) for t in raw.row(row) if t is not None)
                    self.batch.reject(
                        label,
                        f"({tokens})",
                        "encoding",
                        f"column {faults[row]}: {NOT_TEXT}",
                        int(label.rsplit(":", 1)[1]),
                    )
                keep = pl.repeat(True, frame.height, dtype=pl.Boolean, eager=True)
                keep = keep.scatter(rows, False)
                frame, sources = frame.filter(keep), sources.filter(keep)
            self.batch.add(frame, sources)
            self.parked, self.parked_count = [], 0


def _safe_table(text: str) -> tuple[str | None, str] | None:
    try:
        return parse_table_name(text)
    except ValueError:
        return None


def _nth_newline_end(region: bytes, n: int) -> int:
    """Offset just after the n-th newline of `region` (n >= 1), in one regex call."""
    if n <= 0:
        return 0
    m = re.match(rb"(?:[^\n]*+\n){%d}" % n, region)
    assert m is not None
    return m.end()
