"""The record elements of one XML file, in order: every complete record before a break.

`RecordStream` feeds lxml's pull parser the file `READ_BYTES` at a time and yields each
record element at its end event; the caller turns it into a row and `release`s it, so
the tree never holds more than one block of records.

When the parser finds a syntax error, which events of the failing block it still
delivers depends on lxml: 6.1 delivered the records before the error, 6.2 delivers none
of the block's (a 3,000-record file broken at record 3,001 lost ~600 records), and a
later release may buffer differently again. So the stream never relies on them. After a
break it reads the file a second time with a fresh parser (a cold path: broken files
only), skipping the records it has already yielded. It feeds the same blocks as the
first read, except two that it feeds one byte at a time: the block in which the error
surfaced and the last block that gave a record. Fed one byte at a time, a parser can
withhold at most the events of the byte at which it finds the error, and no record ends
on that byte: a record's end event comes with the ``>`` of its end tag, and the error is
found in what follows. So the second read yields exactly the complete records the first
one did not, and notes the byte offset at which the last of them ended: there the
unparsed tail starts (`Break.start`). The cost is one more parse of the file up to the
break, without turning records into rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from lxml import etree

from polaretl.errors import ExtractError

#: Parser options: entity expansion, DTD loading and network access off, libxml2's
#: safety limits on (depth 256, text nodes up to 10 MB, entity amplification).
SAFE_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

#: Bytes fed to the parser at a time: bounds the tree between two releases.
READ_BYTES = 64 << 10


def new_parser(tag: str) -> Any:
    """A hardened pull parser that reports the end of each `tag` element.

    The stream uses only ``feed``, ``read_events`` and ``close``; tests replace this
    function with doubles that deliver or withhold a failing block's events.
    """
    return etree.XMLPullParser(events=("end",), tag=tag, **SAFE_PARSER_OPTIONS)


def release(record: Any) -> None:
    """Free a processed record and everything parsed before it (bounded memory)."""
    record.clear(keep_tail=True)
    node = record
    parent = node.getparent()
    while parent is not None:
        while node.getprevious() is not None:
            del parent[0]
        node, parent = parent, parent.getparent()


@dataclass(frozen=True)
class Break:
    """Where a file stops being XML.

    Args:
        error: the parser's error, with its line and column.
        records: the complete records before it (all of them were yielded).
        start: the byte offset at which the unparsed tail starts: just after the last
            record's end tag, or 0 when the file has no complete record.
        at: the byte offset at which the parser found the error (the file's size when
            it found it at the end of the input).
    """

    error: etree.XMLSyntaxError
    records: int
    start: int
    at: int


class RecordStream:
    """Iterate over the `tag` elements of an open binary file, in document order.

    After the iteration, `broken` is the `Break` when the file is not well-formed (the
    records before it were all yielded) and `root` the root element when it is.

    Args:
        handle: the file, opened in binary mode at its start; it must be seekable.
        tag: the record tag in Clark notation (``{uri}order``, ``{*}order``, ``order``).
        path: the file's name, for messages.
        refuse: called with the parser's error before the tail is salvaged; raises for
            errors that must fail the run (entities, safety limits).
    """

    def __init__(
        self,
        handle: BinaryIO,
        tag: str,
        path: str,
        refuse: Callable[[etree.XMLSyntaxError], None],
    ) -> None:
        self.handle, self.tag, self.path, self.refuse = handle, tag, path, refuse
        self.block_bytes = READ_BYTES  # read now, so tests can make blocks small
        self.broken: Break | None = None
        self.root: Any = None

    def __iter__(self) -> Iterator[Any]:
        parser = new_parser(self.tag)
        read, size = self.handle.read, self.block_bytes
        count = blocks = 0
        productive = -1  # the last block that gave a record
        closing = False
        try:
            while data := read(size):
                parser.feed(data)
                # A block's events are trusted once they have all come without an error:
                # at a break, lxml may withhold some of them, or add end events for the
                # elements it closes because the input stopped (a truncated record).
                events = list(parser.read_events())
                if events:
                    productive = blocks
                    count += len(events)
                blocks += 1
                # Popped, not iterated: a record's proxy dies once the caller is done with
                # it, so lxml frees its node on release instead of keeping it (measured:
                # holding the block's proxies cost 4% more time).
                events.reverse()
                while events:
                    yield events.pop()[1]
            closing = True
            self.root = parser.close()
            events = list(parser.read_events())
        except etree.XMLSyntaxError as exc:
            error = exc
        else:
            for _, record in events:
                yield record
            return
        self.refuse(error)
        failed = max(blocks - 1, 0) if closing else blocks  # at close: the last block
        yield from self._salvage(error, count, {productive, failed})

    def _salvage(self, first: etree.XMLSyntaxError, skip: int, exact: set[int]) -> Iterator[Any]:
        """Read the file again, yield the records after the first `skip`, and set
        `broken`; the blocks in `exact` are fed one byte at a time."""
        self.handle.seek(0)
        parser = new_parser(self.tag)
        read, size = self.handle.read, self.block_bytes
        count = end = pos = blocks = 0
        precise = True  # whether the last feed was one byte (or close after such feeds)
        try:
            while data := read(size):
                precise = blocks in exact
                if precise:
                    for piece in _bytes(data):
                        parser.feed(piece)
                        pos += 1
                        for _, record in list(parser.read_events()):
                            count += 1
                            end = pos  # the byte after the record's end tag
                            if count > skip:
                                yield record
                            else:
                                release(record)
                else:  # the first read parsed this block and yielded its records
                    parser.feed(data)
                    pos += len(data)
                    events = list(parser.read_events())
                    if events:
                        count += len(events)
                        if count > skip:
                            raise self._changed(first)
                        end = pos
                        release(events[-1][1])  # and every record before it
                blocks += 1
            parser.close()
            list(parser.read_events())
        except etree.XMLSyntaxError as exc:
            if not precise or count < skip:
                raise self._changed(first) from exc
            self.refuse(exc)
            self.broken = Break(exc, count, end if count else 0, pos)
            return
        raise self._changed(first)

    def _changed(self, first: etree.XMLSyntaxError) -> ExtractError:
        return ExtractError(
            f"{self.path}: the XML parser found an error ({first.msg}) that a second read "
            "of the file did not find at the same place: the file changed while it was "
            "read. Run again once the file is complete.",
            path=self.path,
        )


def _bytes(data: bytes) -> Iterator[bytes]:
    """`data` one byte at a time (as bytes, which the parser's feed takes)."""
    for i in range(len(data)):
        yield data[i : i + 1]
