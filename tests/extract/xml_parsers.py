"""Pull-parser doubles for the two lxml behaviours on a block that holds a syntax error.

lxml 6.1's ``iterparse`` delivered the events before the error, then raised; 6.2's
delivers none of the failing block's events. Only one lxml is installed, so the other
behaviour is modelled: each double feeds the real parser of the lock one byte at a time,
so it knows exactly which events precede the error, and then either hands them out and
raises after them (``delivers``, 6.1) or drops every event of the failing block and
raises at once (``withholds``, 6.2). ``lxml`` is the real parser, unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxml import etree

from polaretl.extract import xml_stream

REAL_PARSER = xml_stream.new_parser
PARSERS = ["lxml", "withholds", "delivers"]


class ByteModel:
    """A parser double; `withhold` chooses the 6.2 (True) or 6.1 (False) behaviour."""

    def __init__(self, tag: str, withhold: bool) -> None:
        self.real = REAL_PARSER(tag)
        self.withhold = withhold
        self.pending: deque[tuple[str, Any]] = deque()
        self.error: etree.XMLSyntaxError | None = None

    def feed(self, data: bytes) -> None:
        if self.error is not None:  # a parser that failed stays failed
            raise self.error
        block: list[tuple[str, Any]] = []
        for i in range(len(data)):
            try:
                self.real.feed(data[i : i + 1])
            except etree.XMLSyntaxError as exc:
                self.error = exc
                if self.withhold:  # 6.2: nothing of this block, the error now
                    list(self.real.read_events())
                    raise
                block.extend(self.real.read_events())  # 6.1: all before it, then the error
                self.pending.extend(block)
                return
            block.extend(self.real.read_events())
        self.pending.extend(block)

    def read_events(self) -> Iterator[tuple[str, Any]]:
        while self.pending:
            yield self.pending.popleft()
        if self.error is not None and not self.withhold:
            raise self.error

    def close(self) -> Any:
        if self.error is not None:
            raise self.error
        try:
            return self.real.close()
        except etree.XMLSyntaxError as exc:
            self.error = exc
            if self.withhold:
                list(self.real.read_events())
                raise
            self.pending.extend(self.real.read_events())
            return None


def factory(name: str) -> Callable[[str], Any]:
    if name == "lxml":
        return REAL_PARSER
    withhold = name == "withholds"
    return lambda tag: ByteModel(tag, withhold)


def use_parser(monkeypatch: pytest.MonkeyPatch, name: str, block_bytes: int | None = None) -> None:
    """Make `XmlExtractor` parse with the parser `name` (one of `PARSERS`) and, when
    given, feed it `block_bytes` at a time."""
    monkeypatch.setattr(xml_stream, "new_parser", factory(name))
    if block_bytes is not None:
        monkeypatch.setattr(xml_stream, "READ_BYTES", block_bytes)
