"""`XmlExtractor`: records of a glob of XML files, streamed, every value as text.

Each file is one slice, fed to lxml's pull parser 64 KiB at a time (`xml_stream`); each
record is turned into a row at its end event and then cleared together with everything
parsed before it, so memory stays bounded by one chunk of rows plus one read block,
whatever the file's size. The per-record loop in Python is unavoidable with a streaming
parser; it is kept tight: plain field paths are merged into one table and each record's
children are walked once, dispatching on their tag with a dict look-up.

The parser is hardened: no entity expansion, no DTD loading, no network access, and
libxml2's limits on depth (256), text size and entity amplification stay on. A file
that declares or uses entities (XXE, "billion laughs", an HTML ``&nbsp;``) or hits one
of those limits fails with an `ExtractError` saying so; nothing from outside the file
is ever read, and no entity's text is ever silently dropped.

Malformed XML part-way through a file: every complete record before the error is
yielded as usual, whatever the parser buffers (see `xml_stream`), then the rest of the
file goes to the chunk's rejects as one record (check ``malformed_xml``) whose ``raw``
has the error's location, the number of records before it, the byte range of the
unparsed tail and the tail itself: its exact text, or its bytes in base64 when they are
not UTF-8 text, or, past `TAIL_TEXT_BYTES`, the file's fingerprint and the tail's hash
so that the range can be read back from this very file. The file is marked done; once
it is fixed its fingerprint changes and it is read again from the start.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _encode_string  # C-accelerated
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

from polaretl.errors import ConfigError, ExtractError
from polaretl.extract import storage
from polaretl.extract.base import Chunk, reject_frame
from polaretl.extract.files import FileExtractor, fingerprint, resume_offset
from polaretl.extract.xml_stream import Break, RecordStream, release

_EXCERPT_CHARS = 1000

#: The most bytes of an unparsed tail kept in its quarantine record. A larger tail (a
#: file broken near its start) would be one jsonb value of that size in the batch's
#: transaction and in every read of the quarantine; its range, the file's fingerprint
#: and the tail's hash are kept instead, and the file itself is the copy.
TAIL_TEXT_BYTES = 1 << 20

Getter = Callable[[Any], str | list[str] | None]


class XmlExtractor(FileExtractor):
    """Read the ``record_tag`` elements of XML files as rows of text.

    Args:
        path: a glob of files (``data/partners/*.xml``) or a list of globs.
        record_tag: the element that is one record, e.g. ``order``, ``p:order`` with
            `namespaces`, or ``{*}order`` for any namespace.
        fields: column name -> path relative to the record: ``amount`` (a child's
            text), ``address/city`` (deeper), ``@id`` (an attribute of the record),
            ``address/@kind`` (an attribute of a child), ``.`` (the record's own text).
            A path matching several elements gives a JSON text list. When None, every
            attribute of the record becomes ``@name`` and every child element its
            local name (nested children as ``parent/child``).
        lists: columns of `fields` that are always a JSON text list (``[]``,
            ``["a"]``, ``["a", "b"]``), however many elements match.
        namespaces: prefix -> URI for the prefixes used in `record_tag` and `fields`;
            the prefix ``""`` names the default namespace.
        null_values: text values that mean null, applied by the contract.
        missing_ok: succeed with nothing to do when no file matches (default: fail).

    Example:
        >>> XmlExtractor("data/partners/*.xml", "order", fields={"id": "@id"}).describe()
        'xml:data/partners/*.xml'
    """

    kind = "xml"

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        record_tag: str,
        *,
        fields: Mapping[str, str] | None = None,
        lists: Sequence[str] = (),
        namespaces: Mapping[str, str] | None = None,
        null_values: Sequence[str] = (),
        missing_ok: bool = False,
    ) -> None:
        super().__init__(path, missing_ok=missing_ok)
        self.namespaces = dict(namespaces or {})
        self.record_tag = record_tag
        self.tag = _clark(record_tag, self.namespaces, default_ns=True)
        self.fields = dict(fields) if fields is not None else None
        if self.fields is not None and not self.fields:
            raise ConfigError("XmlExtractor: fields must name at least one column, or be None.")
        names = list(self.fields or {})
        unknown = [name for name in lists if name not in names]
        if unknown:
            raise ConfigError(f"XmlExtractor: lists names {unknown}, which are not in fields.")
        self.extract: Callable[[Any], Any] = (
            _plan(list(self.fields.values()), self.namespaces, [names.index(n) for n in lists])
            if self.fields is not None
            else _all_fields
        )
        self.null_values = list(null_values)

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        """Yield the records of the file `slice`, resuming after ``state["offset"]``."""
        fp = fingerprint(slice)
        start = resume_offset(state, fp)
        if start is None:
            return
        yield from _Reader(self, slice, fp, start).chunks(max(1, chunk_size))


class _Reader:
    """One pass over one file; `count` is the number of records consumed so far."""

    def __init__(self, ext: XmlExtractor, path: str, fp: str, start: int) -> None:
        self.ext, self.path, self.fp, self.start = ext, path, fp, start
        self.count = 0  # records consumed (parsed) so far
        self.first = start + 1  # 1-based number of the first record of the next chunk
        self.check_entities = False

    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        try:
            handle = storage.open_binary(self.path)  # closed by the `with` below
        except OSError as exc:
            raise ExtractError(
                f"Cannot read {self.path}: {exc}. Check that the file exists and is readable.",
                path=self.path,
            ) from exc
        with handle:
            if not handle.peek(1):  # an empty drop file: no records
                yield self._chunk([], done=True, consumed=0)
                return
            yield from self._parse(handle, chunk_size)

    def _parse(self, handle: Any, chunk_size: int) -> Iterator[Chunk]:
        stream = RecordStream(handle, self.ext.tag, self.path, self._refuse)
        extract, start, count = self.ext.extract, self.start, 0
        rows: list[Any] = []
        rejects: pl.DataFrame | None = None
        try:
            # the hot loop: one Python iteration per record (a streaming parser needs it)
            for record in stream:
                count += 1
                if count <= start or count == 1:
                    if count == 1:
                        self._check_doctype(record)
                    if count <= start:  # resuming: already committed
                        release(record)
                        continue
                if len(rows) == chunk_size:  # another record exists: not the last chunk
                    yield self._chunk(rows, done=False, consumed=count - 1)
                    rows = []
                if self.check_entities:
                    self.count = count
                    self._refuse_entity_refs(record)
                rows.append(extract(record))
                release(record)
            if stream.broken is not None:
                self.count = count
                rejects = self._malformed(handle, stream.broken)
        except OSError as exc:
            raise ExtractError(
                f"Cannot read {self.path}: {exc}. Check that the file exists and is readable.",
                path=self.path,
            ) from exc
        if stream.broken is None:
            if count == 0 and stream.root is not None:
                self._check_doctype(stream.root)
            yield self._chunk(rows, done=True, consumed=max(count, start))
            return
        if len(rows) == chunk_size:
            yield self._chunk(rows, done=False, consumed=count)
            rows = []
        yield self._chunk(rows, done=True, consumed=max(count, start), rejects=rejects)

    def _chunk(
        self,
        rows: list[Any],
        *,
        done: bool,
        consumed: int,
        rejects: pl.DataFrame | None = None,
    ) -> Chunk:
        frame = self._frame(rows)
        sources = (
            f"{self.path}:record "
            + pl.int_range(self.first, self.first + frame.height, eager=True).cast(pl.String)
        ).alias("source")
        self.first += frame.height
        return Chunk(
            frame,
            source=self.path,
            position={"fp": self.fp, "offset": consumed, "done": done},
            sources=sources,
            rejects=rejects,
            null_values=self.ext.null_values,
        )

    def _frame(self, rows: list[Any]) -> pl.DataFrame:
        fields = self.ext.fields
        if fields is not None:
            schema = {name: pl.String() for name in fields}
            return pl.DataFrame(rows, schema=schema, orient="row")
        if not rows:
            return pl.DataFrame()
        frame = pl.from_dicts(rows, infer_schema_length=None)
        return frame.cast(pl.String)  # all-missing columns come back as Null

    def _check_doctype(self, element: Any) -> None:
        """Refuse entity declarations; watch for undeclared entity references when the
        document has a DOCTYPE (an external DTD that is, on purpose, never loaded)."""
        docinfo = element.getroottree().docinfo
        dtd = docinfo.internalDTD
        names = [entity.name for entity in dtd.iterentities()] if dtd is not None else []
        if names:
            raise ExtractError(
                f"{self.path} declares entities in its DOCTYPE ({', '.join(names[:5])}). "
                "polaretl never expands or fetches entities (protection against XXE and "
                "entity-expansion bombs), so their text would be lost: replace the "
                "references by their text and remove the declarations, then run again.",
                path=self.path,
            )
        self.check_entities = bool(docinfo.doctype)

    def _refuse_entity_refs(self, record: Any) -> None:
        entity = next(record.iter(etree.Entity), None)
        if entity is not None:
            raise ExtractError(
                f"{self.path}, record {self.count} (line {entity.sourceline}): the entity "
                f"reference {entity.text} is defined outside the file; polaretl never expands "
                "or fetches entities (nor loads external DTDs). Replace the reference by its "
                "text and run again.",
                path=self.path,
                record=self.count,
            )

    def _refuse(self, exc: etree.XMLSyntaxError) -> None:
        """Fail the run on a parser error that is no break in the data: entities (never
        expanded nor fetched) and the parser's safety limits (a hostile file)."""
        line, _, message, kind = _location(exc)
        if "ENTIT" in kind or "entity" in message.lower():
            raise ExtractError(
                f"{self.path}, line {line}: {message}. polaretl never expands or fetches "
                "entities (protection against XXE and entity-expansion bombs), so a file "
                "that uses them is refused: replace the references by their text (or "
                "&amp; &lt; &gt; &quot; &apos;) and run again.",
                path=self.path,
                line=line,
            ) from exc
        if kind == "ERR_RESOURCE_LIMIT":
            raise ExtractError(
                f"{self.path}, line {line}: the XML parser refused the file: {message}. "
                "polaretl parses XML with entity expansion off and libxml2's safety limits "
                "on (depth 256, text nodes up to 10 MB, bounded entity amplification); this "
                "file is hostile or must be pre-processed to fit them.",
                path=self.path,
                line=line,
            ) from exc

    def _malformed(self, handle: Any, broken: Break) -> pl.DataFrame:
        """The rest of the file, from the end of the last complete record, as one reject
        record that keeps it (see `_tail`) and says where and why the parser stopped."""
        line, column, message, _ = _location(broken.error)
        excerpt = _excerpt(handle, broken.at)
        tail, kept = self._tail(handle, broken.start)
        start, end = tail["tail_bytes"]
        raw = {
            "path": self.path,
            "line": line,
            "column": column,
            "records_before": broken.records,
            "excerpt": excerpt,
            **tail,
        }
        error = {
            "column": None,
            "check": "malformed_xml",
            "value": excerpt,
            "message": (
                f"{self.path}, line {line}, column {column}: {message}. The "
                f"{broken.records} records before it were read; the rest of the file "
                f"(bytes {start} to {end}, after the last complete record) was not: {kept}. "
                "Fix the file and run again (a changed file is read from the start)."
            ),
            "line": line,
        }
        return reject_frame([f"{self.path}:line {line}"], [raw], [[error]])

    def _tail(self, handle: Any, start: int) -> tuple[dict[str, Any], str]:
        """The unparsed tail for the reject's raw, and a phrase saying how it is kept:
        its exact text; its bytes in base64 when they are not UTF-8 text (an encoding
        error may be the break) or hold a NUL (PostgreSQL text cannot); past
        `TAIL_TEXT_BYTES`, its range, the file's fingerprint and its BLAKE2b hash."""
        end = handle.seek(0, os.SEEK_END)  # a local file or an object alike
        tail: dict[str, Any] = {"tail_bytes": [start, end]}
        handle.seek(start)
        if end - start > TAIL_TEXT_BYTES:
            digest, left = hashlib.blake2b(digest_size=16), end - start
            while left and (block := handle.read(min(left, 1 << 20))):
                digest.update(block)
                left -= len(block)
            tail.update(fingerprint=self.fp, tail_blake2b=digest.hexdigest())
            return tail, (
                f"at {end - start:,} bytes it is too large to keep here, so tail_bytes, "
                "fingerprint and tail_blake2b locate it in this file"
            )
        data = handle.read(end - start)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "\x00"
        if "\x00" in text:
            tail["tail_base64"] = base64.b64encode(data).decode("ascii")
            return tail, "it is kept exactly in tail_base64 (it is not UTF-8 text without NUL)"
        tail["tail"] = text
        return tail, "it is kept exactly in tail"


def _location(exc: etree.XMLSyntaxError) -> tuple[int, int, str, str]:
    """Line, column, message and libxml2 error type of a parser error."""
    line, column, message, kind = exc.lineno or 0, (exc.position or (0, 0))[1], exc.msg, ""
    last = exc.error_log.last_error if exc.error_log else None
    if last is not None and last.line > 0:  # exc.msg is sometimes generic ("no element")
        line, column, message, kind = last.line, last.column, last.message, last.type_name
    return line, column, message, kind


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: Any) -> str:
    """An element's text: its own text for a leaf, the joined descendant text otherwise."""
    if len(element) == 0:
        text: str | None = element.text
        return text if text is not None else ""
    return "".join(element.itertext())


def _one_or_all(values: list[str]) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _clark(name: str, namespaces: Mapping[str, str], *, default_ns: bool) -> str:
    """``p:order`` -> ``{uri}order`` using `namespaces`; ``{*}x`` and ``{uri}x`` kept."""
    if name.startswith("{"):
        return name
    prefix, colon, local = name.rpartition(":")
    if not colon:
        uri = namespaces.get("") if default_ns else None
        return f"{{{uri}}}{local}" if uri else local
    if prefix not in namespaces:
        raise ConfigError(
            f"XmlExtractor: the prefix {prefix!r} in {name!r} is not in namespaces; "
            f"pass namespaces={{{prefix!r}: 'URI'}}.",
        )
    return f"{{{namespaces[prefix]}}}{local}"


#: A step of the simple field paths: tag -> (steps below it, column of its text or None,
#: [(attribute, column)]).
_Table = dict[str, tuple["_Table", int | None, list[tuple[str, int]]]]

_SIMPLE_STEP = re.compile(r"[^\s/\[\]()*{}@=.'\"]+")


def _plan(
    exprs: list[str], namespaces: Mapping[str, str], list_cols: Sequence[int] = ()
) -> Callable[[Any], list[str | None]]:
    """A function record -> list of column values for the field expressions `exprs`;
    the columns at `list_cols` are always JSON text lists.

    Plain paths (``a/b``, ``a/@x``, ``@x``) are merged into one table walked once per
    record, dispatching on each child's tag with a dict look-up (about twice as fast as
    one ElementPath search per field); other paths (predicates, wildcards, ``//``) use
    ElementPath.
    """
    top: _Table = {}
    top_attrs: list[tuple[str, int]] = []
    complex_getters: list[tuple[int, Getter]] = []
    for col, expr in enumerate(exprs):
        head, _, last = expr.rpartition("/")
        path, attr = (head, last[1:]) if last.startswith("@") else (expr, "")
        if last.startswith("@") and not attr.strip():
            raise ConfigError(f"XmlExtractor: {expr!r} names no attribute after '@'.")
        steps = path.split("/") if path not in ("", ".") else []
        simple = all(_SIMPLE_STEP.fullmatch(step) for step in steps)
        if not simple or (attr and not _SIMPLE_STEP.fullmatch(attr)) or not (steps or attr):
            complex_getters.append((col, _compile(expr, namespaces)))
            continue
        table, attrs = top, top_attrs
        for i, step in enumerate(steps):
            tag = _clark(step, namespaces, default_ns=True)
            below, text_col, attrs = table.get(tag, ({}, None, []))
            if i == len(steps) - 1 and not attr:
                text_col = col
            table[tag] = (below, text_col, attrs)
            table = below
        if attr:
            attrs.append((_clark(attr, namespaces, default_ns=False), col))
    width = len(exprs)
    always_list = frozenset(list_cols)

    def walk(element: Any, table: _Table, values: list[Any]) -> None:
        for child in element:
            entry = table.get(child.tag)
            if entry is None:
                continue
            below, col, attrs = entry
            if col is not None:
                text = child.text if not len(child) else "".join(child.itertext())
                if text is None:
                    text = ""
                if values[col] is None:  # the common case, inlined: one value
                    values[col] = text
                else:
                    _put(values, col, text)
            for name, attr_col in attrs:
                text = child.get(name)
                if text is not None:
                    _put(values, attr_col, text)
            if below:
                walk(child, below, values)

    def extract(record: Any) -> list[str | None]:
        values: list[Any] = [None] * width
        for name, col in top_attrs:
            values[col] = record.get(name)
        if top:
            walk(record, top, values)
        for col, getter in complex_getters:
            values[col] = getter(record)
        for col, value in enumerate(values):
            if value.__class__ is list:  # a repeated element: JSON text list
                values[col] = _json_list(value)
            elif col in always_list:
                values[col] = "[]" if value is None else _json_list([value])
        return values

    return extract


def _put(values: list[Any], col: int, text: str) -> None:
    old = values[col]
    if old is None:
        values[col] = text
    elif old.__class__ is list:
        old.append(text)
    else:
        values[col] = [old, text]


def _json_list(values: list[str]) -> str:
    """``json.dumps(values, ensure_ascii=False)`` for a list of strings, five times faster."""
    return "[" + ", ".join(map(_encode_string, values)) + "]"


def _compile(expr: str, namespaces: Mapping[str, str]) -> Getter:
    """A getter for one field expression (see `XmlExtractor`)."""
    head, _, last = expr.rpartition("/")
    path, attr = (head, last[1:]) if last.startswith("@") else (expr, "")
    if last.startswith("@") and not attr.strip():
        raise ConfigError(f"XmlExtractor: {expr!r} names no attribute after '@'.")
    attr_name = _clark(attr, namespaces, default_ns=False) if attr else None
    ns = dict(namespaces) or None
    if path in ("", "."):
        if attr_name is None:
            return _text
        return lambda record: record.get(attr_name)
    try:
        etree.Element("probe").findall(path, ns)
    except (SyntaxError, KeyError, etree.LxmlError) as exc:
        raise ConfigError(f"XmlExtractor: {expr!r} is not a valid element path: {exc}") from exc
    if attr_name is None:
        return lambda record: _one_or_all([_text(e) for e in record.iterfind(path, ns)])
    return lambda record: _one_or_all(
        [v for e in record.iterfind(path, ns) if (v := e.get(attr_name)) is not None]
    )


def _all_fields(record: Any) -> dict[str, str | None]:
    """Every attribute (``@name``) and child element (``parent/child``) of a record."""
    found: dict[str, Any] = {"@" + _local(name): value for name, value in record.attrib.items()}
    _walk(record, "", found)
    for name, value in found.items():
        if value.__class__ is list:
            found[name] = _json_list(value)
    return found


def _walk(element: Any, prefix: str, found: dict[str, Any]) -> None:
    # depth is bounded by libxml2 (256 levels without huge_tree), far below Python's limit
    for child in element:
        tag = child.tag
        if tag.__class__ is not str:  # an entity reference; refused upstream
            continue
        name = prefix + (tag if tag[0] != "{" else _local(tag))
        if child.attrib:
            for attr, value in child.attrib.items():
                _add(found, f"{name}/@{_local(attr)}", value)
        if not len(child):
            text = child.text
            _add(found, name, text if text is not None else "")
        else:
            _walk(child, name + "/", found)


def _add(found: dict[str, Any], name: str, text: str) -> None:
    old = found.get(name)
    if old is None:
        found[name] = text
    elif old.__class__ is list:
        old.append(text)
    else:
        found[name] = [old, text]


def _excerpt(handle: Any, at: int) -> str:
    """The line around byte `at` of the file, where the parser stopped: the whole line
    when it is short, else `_EXCERPT_CHARS` characters around that point (cold path:
    only after a parse error; a bounded read, even in a file that is one long line)."""
    lo = max(0, at - 4 * _EXCERPT_CHARS)
    handle.seek(lo)
    window: bytes = handle.read(at - lo + 4 * _EXCERPT_CHARS)
    cut = at - lo
    first, stop = window.rfind(b"\n", 0, cut) + 1, window.find(b"\n", cut)
    before = window[first:cut].decode("utf-8", "replace")
    after = window[cut : stop if stop >= 0 else len(window)].decode("utf-8", "replace")
    after = after.rstrip("\r")
    if len(before) + len(after) <= _EXCERPT_CHARS:
        return before + after
    keep_after = min(len(after), max(_EXCERPT_CHARS // 4, _EXCERPT_CHARS - len(before)))
    return before[len(before) - (_EXCERPT_CHARS - keep_after) :] + after[:keep_after]
