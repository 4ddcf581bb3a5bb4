"""XmlExtractor on broken files: every complete record before the break is read, the
unparsed tail is quarantined exactly, and the resume position is right, under both
lxml behaviours on a block that holds the error (see `xml_parsers`)."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pandera.polars as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import polaretl as pe
from polaretl.errors import ExtractError
from polaretl.extract import xml, xml_stream
from polaretl.extract.xml import XmlExtractor
from tests.extract.xml_parsers import PARSERS, REAL_PARSER, use_parser
from tests.helpers import query

FIELDS = {"order_id": "@id", "amount": "amount", "city": "address/city"}
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n'
FOOT = "</orders>\n"


def record(i: int) -> str:
    return f'<order id="{i}"><amount>{i}.5</amount><address><city>c{i}</city></address></order>'


@dataclass
class Doc:
    """A document's bytes and the byte offsets where each record starts and ends."""

    data: bytes
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, records: list[str], *, pad: int = 0, sep: str = "\n  ") -> Doc:
        data, starts, ends = (HEAD + " " * pad + "  ").encode(), [], []
        for text in records:
            starts.append(len(data))
            data += text.encode()
            ends.append(len(data))
            data += sep.encode()
        return cls(data[: -len(sep.encode())] + ("\n" + FOOT).encode(), starts, ends)

    def tail_start(self, broken: int) -> int:
        """Where the unparsed tail starts when record `broken` (1-based) is the break."""
        return self.ends[broken - 2] if broken > 1 else 0

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data)
        return path


def mismatched(n: int, broken: int, *, pad: int = 0) -> Doc:
    """`n` records, record `broken`'s amount closed by a wrong end tag."""
    texts = [record(i) for i in range(1, n + 1)]
    texts[broken - 1] = texts[broken - 1].replace("</amount>", "</amnt>")
    return Doc.of(texts, pad=pad)


def read(path: Path, chunk_size: int, state: dict[str, Any] | None = None) -> list[Any]:
    return list(XmlExtractor(str(path), "order", fields=FIELDS).read(str(path), state, chunk_size))


def ids(chunks: list[Any]) -> list[str]:
    return [r for c in chunks for r in c.frame["order_id"].to_list()]


def the_reject(chunks: list[Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    (rejects,) = [c.rejects for c in chunks if c.rejects is not None]
    (row,) = rejects.to_dicts()
    return json.loads(row["raw"]), json.loads(row["errors"])[0], row["source"]


def tail_bytes(raw: dict[str, Any]) -> bytes:
    if "tail" in raw:
        return str(raw["tail"]).encode()
    return base64.b64decode(raw["tail_base64"])


def assert_break(path: Path, doc: Doc, broken: int, chunk_size: int) -> None:
    """Exact outcome of reading `path` (`doc`, broken at record `broken`), and of
    resuming after each chunk a pipeline would have committed."""
    chunks = read(path, chunk_size)
    before = broken - 1
    assert ids(chunks) == [str(i) for i in range(1, broken)]
    assert all(c.received <= chunk_size for c in chunks)
    raw, error, _ = the_reject(chunks)
    start = doc.tail_start(broken)
    assert raw["records_before"] == before and raw["tail_bytes"] == [start, len(doc.data)]
    assert tail_bytes(raw) == doc.data[start:]
    assert error["check"] == "malformed_xml"
    assert f"The {before} records before it were read" in error["message"]
    assert chunks[-1].position == {"fp": chunks[-1].position["fp"], "offset": before, "done": True}
    assert [c.position["done"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    for i, chunk in enumerate(chunks[:-1]):  # a crash after any committed chunk
        rest = read(path, chunk_size, state=chunk.position)
        assert ids(rest) == ids(chunks[i + 1 :])
        assert the_reject(rest) == the_reject(chunks)
    assert read(path, chunk_size, state=chunks[-1].position) == []  # done: not read again


def _offset(doc: Doc, broken: int, align: str) -> int:
    """The byte offset a case puts on a block boundary."""
    error_at = doc.data.index(b"</amnt>")
    return {
        "start": doc.starts[broken - 1],
        "end": doc.ends[broken - 2],
        "error": error_at,
        "error end": error_at + len(b"</amnt>"),
    }[align]


# where the break falls: (records, broken record, block bytes, offset put on a boundary)
CASES: dict[str, tuple[int, int, int, str | None]] = {
    "first block": (40, 3, 1024, None),
    "middle block": (40, 25, 256, None),
    "broken record starts a block": (40, 25, 128, "start"),
    "previous record ends a block": (40, 25, 128, "end"),
    "wrong end tag starts a block": (40, 25, 128, "error"),
    "wrong end tag ends a block": (40, 25, 128, "error end"),
    "first record": (40, 1, 128, None),
    "one-byte blocks": (12, 6, 1, None),
}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_break_keeps_every_record_before_it(tmp_path, monkeypatch, parser, case):
    n, broken, block, align = CASES[case]
    doc = mismatched(n, broken)
    if align is not None:  # spaces before the records move the offset onto a boundary
        doc = mismatched(n, broken, pad=-_offset(doc, broken, align) % block)
        at = _offset(doc, broken, align)
        assert at % block == 0 and 0 < at // block < len(doc.data) // block  # a middle block
    use_parser(monkeypatch, parser, block)
    assert_break(doc.write(tmp_path / "b.xml"), doc, broken, chunk_size=4)


@pytest.mark.parametrize("parser", PARSERS)
def test_3000_records_broken_at_3001_keep_3000(tmp_path, monkeypatch, parser):
    """The issue's file, with the real 64 KiB blocks: 3,000 rows and the tail's text."""
    use_parser(monkeypatch, parser)
    doc = mismatched(3001, 3001)
    path = doc.write(tmp_path / "o.xml")
    ext = XmlExtractor(str(path), "order", fields=FIELDS)
    siblings: list[int] = []
    extract = ext.extract

    def spy(element: Any) -> Any:
        siblings.append(len(element.getparent()))
        return extract(element)

    ext.extract = spy
    chunks = list(ext.read(str(path), None, 1000))
    assert ids(chunks) == [str(i) for i in range(1, 3001)]
    raw, error, source = the_reject(chunks)
    assert raw["tail"] == "\n  " + record(3001).replace("</amount>", "</amnt>") + "\n" + FOOT
    assert raw["records_before"] == 3000 and raw["line"] == 3003 and source.endswith(":line 3003")
    assert "The 3000 records before it were read" in error["message"]
    assert chunks[-1].position["offset"] == 3000
    assert max(siblings) < 1000  # the re-read releases records as the first read does


@pytest.mark.parametrize("parser", PARSERS)
def test_8_records_broken_at_6_keep_5(tmp_path, monkeypatch, parser):
    use_parser(monkeypatch, parser)
    doc = mismatched(8, 6)
    assert_break(doc.write(tmp_path / "o.xml"), doc, 6, chunk_size=2)


def test_a_file_broken_before_its_first_record_is_all_tail(tmp_path):
    path = tmp_path / "r.xml"
    path.write_text('<?xml version="1.0"?>\n<orders\n' + record(1) + FOOT)
    chunks = read(path, 10)
    raw, error, _ = the_reject(chunks)
    assert ids(chunks) == [] and raw["records_before"] == 0
    assert raw["tail"] == path.read_text() and raw["tail_bytes"] == [0, path.stat().st_size]


def test_a_file_cut_after_its_last_record_loads_them_all(tmp_path):
    doc = Doc.of([record(i) for i in range(1, 6)])
    path = tmp_path / "c.xml"
    path.write_bytes(doc.data[: -len(FOOT) - 1])
    chunks = read(path, 2)
    raw, _, _ = the_reject(chunks)
    assert ids(chunks) == ["1", "2", "3", "4", "5"] and raw["tail"] == ""


def test_a_tail_that_is_not_utf8_is_kept_as_base64(tmp_path):
    texts = [record(i) for i in range(1, 9)]
    texts[5] = texts[5].replace("6.5", "6.5\udcff")  # a lone 0xff byte below
    data = "\n".join(texts).encode("utf-8", "surrogateescape")
    path = tmp_path / "e.xml"
    path.write_bytes(HEAD.encode() + data + b"\n" + FOOT.encode())
    chunks = read(path, 3)
    raw, error, _ = the_reject(chunks)
    assert ids(chunks) == ["1", "2", "3", "4", "5"] and "tail" not in raw
    start = path.read_bytes().index(b'</order>\n<order id="6"') + len(b"</order>")
    assert base64.b64decode(raw["tail_base64"]) == path.read_bytes()[start:]
    assert "tail_base64" in error["message"]


def test_a_large_tail_is_kept_as_range_fingerprint_and_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(xml, "TAIL_TEXT_BYTES", 100)
    doc = mismatched(20, 4)
    path = doc.write(tmp_path / "l.xml")
    chunks = read(path, 10)
    raw, error, _ = the_reject(chunks)
    start, end = raw["tail_bytes"]
    assert ids(chunks) == ["1", "2", "3"] and (start, end) == (doc.ends[2], len(doc.data))
    assert "tail" not in raw and "tail_base64" not in raw
    assert raw["fingerprint"] == chunks[-1].position["fp"]
    digest = hashlib.blake2b(doc.data[start:end], digest_size=16).hexdigest()
    assert raw["tail_blake2b"] == digest and "too large to keep" in error["message"]


def test_the_excerpt_of_a_one_line_file_is_read_around_the_error(tmp_path):
    """Many feeds are one long line: the excerpt is the text around the error, read from
    a bounded window, never the whole line."""
    texts = [record(i) for i in range(1, 30_001)]
    texts[29_000] = texts[29_000].replace("</amount>", "</amnt>")
    path = tmp_path / "line.xml"
    path.write_text(HEAD.replace("\n", "") + "".join(texts) + FOOT.strip())
    chunks = read(path, 10_000)
    raw, error, _ = the_reject(chunks)
    assert len(ids(chunks)) == 29_000 and raw["line"] == 1
    excerpt = raw["excerpt"]  # 3/4 before the point where the parser stopped, 1/4 after
    assert len(excerpt) == 1000 and 700 < excerpt.index("29001.5</amnt>") < 750
    assert error["value"] == excerpt


def test_an_error_the_second_read_does_not_see_fails_the_run(tmp_path, monkeypatch):
    """The re-read must find the error where the first read did, or the file changed
    while it was read: that fails loudly rather than guessing which records were lost."""
    doc = Doc.of([record(i) for i in range(1, 9)])
    path = doc.write(tmp_path / "ok.xml")
    made: list[Any] = []

    class FailsOnce:
        def feed(self, data: bytes) -> None:
            try:
                etree.fromstring(b"<a></b>")
            except etree.XMLSyntaxError as exc:
                raise exc from None

    def parser(tag: str) -> Any:
        made.append(FailsOnce() if not made else REAL_PARSER(tag))
        return made[-1]

    use_parser(monkeypatch, "lxml", 64)
    monkeypatch.setattr(xml_stream, "new_parser", parser)
    with pytest.raises(ExtractError, match="changed while it was read"):
        read(path, 10)
    assert len(made) == 2


# --- property: any break, any block size, either behaviour, against an oracle ----------

_CHARS = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Co")),
    st.sampled_from("<>&\"' é汉😀\n\t"),
)
_VALUES = st.text(_CHARS, max_size=12)


@st.composite
def _records(draw: st.DrawFn) -> list[str]:
    """Order records with awkward text: escaped markup, CDATA holding an end tag, a
    comment, multi-byte characters (split by the blocks), attributes with ``>``."""
    texts = []
    for i in range(1, draw(st.integers(0, 14)) + 1):
        amount = escape(draw(_VALUES))
        if draw(st.booleans()):
            amount += "<![CDATA[</order> & <x>]]>"
        if draw(st.booleans()):
            amount = "<!-- </order> -->" + amount
        note = quoteattr(draw(_VALUES))
        texts.append(f'<order id="{i}" note={note}><amount>{amount}</amount></order>')
    return texts


def _break(draw: st.DrawFn, doc: Doc, texts: list[str]) -> tuple[bytes, int]:
    """A broken copy of `doc` and the number of the first record it breaks (len + 1:
    after the last record)."""
    broken = draw(st.integers(1, len(texts) + 1))
    kind = draw(st.sampled_from(["cut", "wrong end tag", "bad byte", "stray <", "stray end"]))
    if broken > len(texts):  # after every record: in the closing tag
        kind = "cut" if kind in ("wrong end tag", "bad byte", "stray <") else kind
    data = doc.data
    lo = doc.tail_start(broken) if broken > 1 else len(HEAD.encode())
    if kind == "cut":
        hi = doc.ends[broken - 1] if broken <= len(texts) else data.rindex(b">")
        return data[: draw(st.integers(lo, hi - 1))], broken
    if kind == "stray end":  # an end tag that closes nothing, just before the record
        return data[:lo] + b"</x>" + data[lo:], broken
    at = data.index(b"<amount>", doc.starts[broken - 1]) + len(b"<amount>")
    insert = {"wrong end tag": b"</amnt>", "bad byte": b"\xff", "stray <": b"< "}[kind]
    return data[:at] + insert + data[at:], broken


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[str], bytes, int, int, int, str]:
    texts = draw(_records())
    doc = Doc.of(texts)
    data, broken = _break(draw, doc, texts)
    block = draw(st.one_of(st.integers(1, 64), st.integers(65, 700)))
    return texts, data, broken, block, draw(st.integers(1, 5)), draw(st.sampled_from(PARSERS))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_cases(), resume=st.integers(0, 20))
def test_property_every_record_before_any_break_is_read(case, resume):
    texts, data, broken, block, chunk_size, parser = case
    fields = {"order_id": "@id", "note": "@note", "amount": "amount"}
    oracle = []  # each good record parsed alone by another parser
    for text in texts[: broken - 1]:
        element = ET.fromstring(text)
        oracle.append(
            {
                "order_id": element.get("id"),
                "note": element.get("note"),
                "amount": _itertext(element),
            }
        )
    good = Doc.of(texts[: broken - 1])
    start = good.ends[-1] if broken > 1 else 0
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as monkeypatch:
        use_parser(monkeypatch, parser, block)
        path = Path(folder) / "p.xml"
        path.write_bytes(data)
        ext = XmlExtractor(str(path), "order", fields=fields)
        chunks = list(ext.read(str(path), None, chunk_size))
        assert [r for c in chunks for r in c.frame.to_dicts()] == oracle
        raw, error, _ = the_reject(chunks)
        assert raw["records_before"] == broken - 1 and raw["tail_bytes"] == [start, len(data)]
        assert tail_bytes(raw) == data[start:]
        assert chunks[-1].position["offset"] == broken - 1 and chunks[-1].position["done"]
        if len(chunks) > 1:  # resume after a committed chunk: the same rest, exactly
            at = resume % (len(chunks) - 1)
            rest = list(ext.read(str(path), chunks[at].position, chunk_size))
            assert [r for c in rest for r in c.frame.to_dicts()] == [
                r for c in chunks[at + 1 :] for r in c.frame.to_dicts()
            ]
            assert the_reject(rest) == (raw, error, the_reject(chunks)[2])


def _itertext(element: ET.Element) -> str | None:
    amount = element.find("amount")
    return None if amount is None else "".join(amount.itertext())


# --- end to end -----------------------------------------------------------------------


class XmlOrder(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float
    city: str


@pytest.mark.postgres
@pytest.mark.parametrize("parser", PARSERS)
def test_3000_records_broken_at_3001_load_3000_into_postgres(
    tmp_path, monkeypatch, database_url, parser
):
    use_parser(monkeypatch, parser)
    doc = mismatched(3001, 3001)
    path = doc.write(tmp_path / "orders.xml")
    pipeline = pe.Pipeline(
        "xml_orders",
        extractor=XmlExtractor(str(path), "order", fields=FIELDS),
        contract=XmlOrder,
        loader=pe.PostgresLoader("xml_orders", key="order_id", mode="upsert"),
        chunk_size=1000,
    )
    result = pipeline.run(database_url=database_url)
    assert (result.status, result.processed, result.valid, result.rejected, result.loaded) == (
        "succeeded",
        3001,
        3000,
        1,
        3000,
    )
    assert query(database_url, "SELECT count(*), min(order_id), max(order_id) FROM xml_orders") == [
        (3000, 1, 3000)
    ]
    q = pe.quarantine("xml_orders", database_url=database_url)
    assert q.height == 1 and q["source"][0] == f"{path}:line 3003"
    raw = json.loads(q["raw"][0])
    assert raw["tail"].encode() == doc.data[doc.ends[2999] :] and raw["records_before"] == 3000
    again = pipeline.run(database_url=database_url)
    assert (again.processed, again.loaded) == (0, 0)
