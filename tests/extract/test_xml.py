"""XmlExtractor: fields, resumption, hostile files (XXE, entity bombs, breaks, depth)."""

import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import polaretl as pe
from contracts.partner_order import PartnerOrder
from polaretl.errors import ConfigError, ExtractError
from polaretl.extract.xml import XmlExtractor
from tests.helpers import query

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"order_id": "@id", "amount": "amount", "city": "address/city"}


def orders_xml(path: Path, n: int, *, start: int = 1) -> Path:
    body = "".join(
        f'  <order id="{i}"><amount>{i}.5</amount><address><city>c{i}</city></address></order>\n'
        for i in range(start, start + n)
    )
    path.write_text(f'<?xml version="1.0"?>\n<orders>\n{body}</orders>\n')
    return path


def read_all(path: Path, chunk_size: int = 1000, state=None, **options):
    ext = XmlExtractor(str(path), options.pop("record_tag", "order"), **options)
    return list(ext.read(str(path), state, chunk_size))


def rows(chunks) -> list[dict]:
    return [r for c in chunks for r in c.frame.to_dicts()]


def test_fields_by_path_attribute_namespace_and_repeats(tmp_path):
    path = tmp_path / "p.xml"
    path.write_text(
        '<feed xmlns="urn:orders" xmlns:x="urn:extra">\n'
        '<order id="1" x:channel="web"><amount>12.50</amount>'
        "<address><city>Paris</city></address><tag>a</tag><tag>b</tag><note/></order>\n"
        '<order id="2"><amount>abc</amount><x:ref>R2</x:ref><address kind="home"/></order>\n'
        "</feed>\n"
    )
    fields = {
        "order_id": "@id",
        "channel": "@x:channel",
        "amount": "o:amount",
        "city": "o:address/o:city",
        "kind": "o:address/@kind",
        "tags": "o:tag",
        "note": "o:note",
        "ref": "x:ref",
        "first_tag": "o:tag[1]",
    }
    chunks = read_all(
        path, record_tag="o:order", fields=fields, namespaces={"o": "urn:orders", "x": "urn:extra"}
    )
    assert rows(chunks) == [
        {
            "order_id": "1",
            "channel": "web",
            "amount": "12.50",
            "city": "Paris",
            "kind": None,
            "tags": '["a", "b"]',
            "note": "",
            "ref": None,
            "first_tag": "a",
        },
        {
            "order_id": "2",
            "channel": None,
            "amount": "abc",
            "city": None,
            "kind": "home",
            "tags": None,
            "note": None,
            "ref": "R2",
            "first_tag": None,
        },
    ]
    assert chunks[0].sources.to_list() == [f"{path}:record 1", f"{path}:record 2"]
    # the default namespace may also be given as the "" prefix
    again = read_all(path, fields={"amount": "amount"}, namespaces={"": "urn:orders"})
    assert [r["amount"] for r in rows(again)] == ["12.50", "abc"]


def test_any_namespace_wildcard(tmp_path):
    path = tmp_path / "w.xml"
    path.write_text('<a:r xmlns:a="urn:a"><a:order id="1"/><order id="2"/></a:r>')
    assert rows(read_all(path, record_tag="{*}order")) == [{"@id": "1"}, {"@id": "2"}]


def test_fields_none_takes_every_attribute_and_child(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(
        '<r><order id="7" v="2"><amount>1</amount><address><city>X</city><zip>9</zip>'
        '</address><tag>a</tag><tag>b</tag></order><order id="8"><extra>e</extra></order></r>'
    )
    assert rows(read_all(path)) == [
        {
            "@id": "7",
            "@v": "2",
            "amount": "1",
            "address/city": "X",
            "address/zip": "9",
            "tag": '["a", "b"]',
            "extra": None,
        },
        {
            "@id": "8",
            "@v": None,
            "amount": None,
            "address/city": None,
            "address/zip": None,
            "tag": None,
            "extra": "e",
        },
    ]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 10, 11])
def test_chunks_and_every_resume_point_are_exact(tmp_path, chunk_size):
    path = orders_xml(tmp_path / "o.xml", 10)
    chunks = read_all(path, chunk_size, fields=FIELDS)
    assert [r["order_id"] for r in rows(chunks)] == [str(i) for i in range(1, 11)]
    assert all(c.frame.height <= chunk_size for c in chunks)
    assert [c.position["done"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    for i, chunk in enumerate(chunks[:-1]):  # a crash after any committed chunk
        rest = read_all(path, chunk_size, state=chunk.position, fields=FIELDS)
        expected = [r["order_id"] for c in chunks[i + 1 :] for r in c.frame.to_dicts()]
        assert [r["order_id"] for r in rows(rest)] == expected
        assert rest[0].sources[0] == chunks[i + 1].sources[0]


def test_finished_file_yields_nothing_changed_file_is_read_again(tmp_path):
    path = orders_xml(tmp_path / "o.xml", 5)
    done = read_all(path, fields=FIELDS)[-1].position
    assert done["done"] and done["offset"] == 5
    assert read_all(path, state=done, fields=FIELDS) == []
    orders_xml(path, 6)
    assert len(rows(read_all(path, state=done, fields=FIELDS))) == 6


@pytest.mark.parametrize("text", ["<orders></orders>", ""])
def test_empty_and_recordless_files_are_done_with_no_rows(tmp_path, text):
    path = tmp_path / "e.xml"
    path.write_text(text)
    (chunk,) = read_all(path, fields=FIELDS)
    assert chunk.frame.columns == list(FIELDS) and chunk.frame.height == 0
    assert chunk.rejects is None and chunk.position["done"] is True


def test_slices_are_the_sorted_files_and_no_match_is_an_error(tmp_path):
    for name in ("b.xml", "a.xml"):
        orders_xml(tmp_path / name, 1)
    ext = XmlExtractor(f"{tmp_path}/*.xml", "order")
    assert ext.slices() == [f"{tmp_path}/a.xml", f"{tmp_path}/b.xml"]
    with pytest.raises(ExtractError, match="No file matches"):
        XmlExtractor(f"{tmp_path}/*.nope", "order").slices()
    assert XmlExtractor(f"{tmp_path}/*.nope", "order", missing_ok=True).slices() == []


def test_malformed_xml_yields_records_before_then_rejects_the_tail(tmp_path):
    path = orders_xml(tmp_path / "m.xml", 8)
    text = path.read_text().replace("<amount>6.5</amount>", "<amount>6.5</amnt>")
    path.write_text(text)
    chunks = read_all(path, 2, fields=FIELDS)
    assert [r["order_id"] for r in rows(chunks)] == ["1", "2", "3", "4", "5"]
    (bad,) = [c.rejects for c in chunks if c.rejects is not None]
    reject = bad.to_dicts()[0]
    raw, errors = json.loads(reject["raw"]), json.loads(reject["errors"])
    assert reject["source"] == f"{path}:line 8"
    assert raw["line"] == 8 and raw["records_before"] == 5 and "6.5</amnt>" in raw["excerpt"]
    assert errors[0]["check"] == "malformed_xml" and errors[0]["line"] == 8
    assert "mismatch" in errors[0]["message"]
    assert chunks[-1].position == {"fp": chunks[-1].position["fp"], "offset": 5, "done": True}
    assert all(
        c.frame.height + (c.rejects.height if c.rejects is not None else 0) <= 2 for c in chunks
    )


def test_truncated_file_rejects_the_tail(tmp_path):
    path = orders_xml(tmp_path / "t.xml", 4)
    path.write_text(path.read_text()[:-30])
    chunks = read_all(path, fields=FIELDS)
    assert len(rows(chunks)) == 3
    assert json.loads(chunks[-1].rejects["errors"][0])[0]["check"] == "malformed_xml"


def test_deep_nesting_fails_cleanly(tmp_path):
    path = tmp_path / "deep.xml"
    path.write_text('<r><order id="1">' + "<a>" * 50_000 + "</a>" * 50_000 + "</order></r>")
    with pytest.raises(ExtractError, match="Excessive depth"):
        read_all(path, fields=FIELDS)
    ok = tmp_path / "ok.xml"  # 200 levels is within the limit, and fields=None walks it
    ok.write_text('<r><order id="1">' + "<a>" * 200 + "x" + "</a>" * 200 + "</order></r>")
    (row,) = rows(read_all(ok))
    assert row["/".join(["a"] * 200)] == "x"


class _Canary(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Canary.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY evil "NETWORK-CANARY">')

    def log_message(self, *args):
        pass


@pytest.fixture
def canary_server():
    _Canary.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_canary_server_counts_hits(canary_server):
    with urllib.request.urlopen(f"{canary_server}/probe") as response:  # the canary works
        response.read()
    assert _Canary.hits == ["/probe"]


XXE_DOCS = {
    "file_entity": '<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
    '<r><order id="1"><amount>&x;</amount></order></r>',
    "net_entity": '<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/e">]>'
    '<r><order id="1"><amount>&x;</amount></order></r>',
    "param_entity": '<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}/p"> %p;]>'
    '<r><order id="1"><amount>&evil;</amount></order></r>',
    "external_dtd": '<!DOCTYPE r SYSTEM "{url}/x.dtd">'
    '<r><order id="1"><amount>&evil;</amount></order></r>',
    "entity_in_attribute": '<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
    '<r><order id="&x;"><amount>1</amount></order></r>',
    "xinclude": '<r xmlns:xi="http://www.w3.org/2001/XInclude"><order id="1"><amount>'
    '<xi:include href="file://{secret}" parse="text"/><xi:include href="{url}/i"/>'
    "</amount></order></r>",
}


@pytest.mark.parametrize("name", sorted(XXE_DOCS))
@pytest.mark.parametrize("fields", [FIELDS, None])
def test_xxe_never_reads_local_files_or_the_network(tmp_path, canary_server, name, fields):
    secret = tmp_path / "secret.txt"
    secret.write_text("FILE-CANARY")
    path = tmp_path / f"{name}.xml"
    path.write_text(XXE_DOCS[name].format(secret=secret, url=canary_server))
    try:
        seen, error = json.dumps(rows(read_all(path, fields=fields))), None
    except ExtractError as exc:
        seen, error = str(exc), exc
    assert "FILE-CANARY" not in seen and "NETWORK-CANARY" not in seen
    assert _Canary.hits == []
    if name == "xinclude":  # no entities: parsed, and the includes are not followed
        assert error is None
    else:  # entities are refused, with a message that says why
        assert error is not None and "never expands or fetches entities" in str(error)


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (pytest)
PEAK_KB = (
    "def peak_kb():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
{levels}
]>
<lolz><order id="{ref}"><amount>{ref}</amount></order></lolz>
"""


def _bomb(path: Path, in_attribute: bool) -> None:
    levels = "\n".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    ref = "&lol9;"
    text = BOMB.format(levels=levels, ref=ref)
    if not in_attribute:
        text = text.replace('id="&lol9;"', 'id="1"')
    path.write_text(text)


@pytest.mark.parametrize("in_attribute", [False, True])
def test_billion_laughs_fails_fast_with_small_memory(tmp_path, in_attribute):
    path = tmp_path / "bomb.xml"
    _bomb(path, in_attribute)
    script = (
        PEAK_KB + "import sys, time\n"
        "from polaretl.extract.xml import XmlExtractor\n"
        "from polaretl.errors import ExtractError\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    list(XmlExtractor({str(path)!r}, 'order').read({str(path)!r}, None, 100))\n"
        "    print('PARSED')\n"
        "except ExtractError as exc:\n"
        "    print('ERROR', exc)\n"
        "print('SECONDS', time.perf_counter() - t)\n"
        "print('RSS_KB', peak_kb())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert "ERROR" in lines and "entit" in lines["ERROR"]
    assert float(lines["SECONDS"]) < 2
    assert int(lines["RSS_KB"]) < 300_000  # the bomb would expand to ~3 GB


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="prefix 'p'"):
        XmlExtractor("x/*.xml", "p:order")
    with pytest.raises(ConfigError, match="not a valid element path"):
        XmlExtractor("x/*.xml", "order", fields={"a": "b[["})
    with pytest.raises(ConfigError, match="no attribute"):
        XmlExtractor("x/*.xml", "order", fields={"a": "b/@"})


def test_memory_is_released_as_records_stream(tmp_path):
    """The tree holds at most one read block (64 KiB) of records, never the whole file."""
    path = orders_xml(tmp_path / "big.xml", 5000)
    ext = XmlExtractor(str(path), "order", fields=FIELDS)
    seen = []
    original = ext.extract

    def spy(record):
        seen.append(len(record.getparent()))
        return original(record)

    ext.extract = spy
    assert sum(c.frame.height for c in ext.read(str(path), None, 1000)) == 5000
    assert max(seen) < 1000  # ~690 records of ~95 bytes per 64 KiB block; the file has 5000


@pytest.mark.slow
def test_peak_memory_is_flat_in_file_size(tmp_path):
    script = (
        PEAK_KB + "import sys\n"
        "from polaretl.extract.xml import XmlExtractor\n"
        "p = sys.argv[1]\n"
        "n = sum(c.frame.height for c in XmlExtractor(p, 'order', fields={'a': 'amount'})"
        ".read(p, None, 10_000))\n"
        "print(n, peak_kb())\n"
    )
    peaks = {}
    for n in (20_000, 400_000):
        path = orders_xml(tmp_path / f"o{n}.xml", n)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert out.returncode == 0, out.stderr
        count, rss = map(int, out.stdout.split())
        assert count == n
        peaks[n] = rss
        assert time.perf_counter() - started < 120
    assert peaks[400_000] < peaks[20_000] + 40_000  # 20x the records, < 40 MB more


def test_lists_are_always_json_lists(tmp_path):
    path = tmp_path / "l.xml"
    path.write_text('<r><order><i s="a"/><i s="b"/></order><order><i s="c"/></order><order/></r>')
    chunks = read_all(path, fields={"skus": "i/@s", "n": "i"}, lists=["skus"])
    assert rows(chunks) == [
        {"skus": '["a", "b"]', "n": '["", ""]'},
        {"skus": '["c"]', "n": ""},
        {"skus": "[]", "n": None},
    ]
    with pytest.raises(ConfigError, match="not in fields"):
        XmlExtractor("x/*.xml", "order", fields={"a": "b"}, lists=["c"])


@pytest.mark.postgres
def test_partner_feed_end_to_end_into_postgres(tmp_path, database_url):
    """The example connector's extractor through a Pipeline: bad values quarantined with
    their raw record, a broken file's tail quarantined, a re-run reads nothing."""
    folder = tmp_path / "partners"
    shutil.copytree(ROOT / "data" / "partners", folder)
    broken = (folder / "acme_2026-11-01.xml").read_text().replace("1001", "3001", 1)
    cut = broken.index('<order id="1004"')
    (folder / "broken.xml").write_text(broken[:cut] + '<order id="x"><amount>1</amount>\n')
    extractor = XmlExtractor(
        f"{folder}/*.xml",
        record_tag="order",
        fields={
            "order_id": "@id",
            "partner": "partner",
            "amount": "amount",
            "currency": "amount/@currency",
            "ordered_at": "ordered_at",
            "city": "address/city",
            "skus": "items/item/@sku",
        },
        lists=["skus"],
        namespaces={"": "urn:example:partners"},
    )
    pipeline = pe.Pipeline(
        "partner_orders",
        extractor=extractor,
        contract=PartnerOrder,
        loader=pe.PostgresLoader("partner_orders", key="order_id", mode="upsert"),
        chunk_size=7,
    )
    result = pipeline.run(database_url=database_url)
    # 36 records + 3 good ones of broken.xml + its malformed tail
    assert (result.status, result.processed, result.valid, result.rejected) == (
        "succeeded",
        40,
        34,
        6,
    )
    q = pe.quarantine("partner_orders", database_url=database_url)
    by_source = {
        s.rsplit("/", 1)[1]: (json.loads(r), json.loads(e))
        for s, r, e in zip(q["source"], q["raw"], q["errors"], strict=True)
    }
    assert set(by_source) == {
        "acme_2026-11-01.xml:record 7",
        "acme_2026-11-01.xml:record 13",
        "globex_2026-11-01.xml:record 4",
        "globex_2026-11-01.xml:record 9",
        "globex_2026-11-01.xml:record 15",
        "broken.xml:line 8",
    }
    raw, errors = by_source["acme_2026-11-01.xml:record 7"]
    assert raw["amount"] == "12,50" and raw["skus"].startswith("[")  # every field kept
    assert {e["column"] for e in errors} == {"amount"}
    raw, errors = by_source["broken.xml:line 8"]
    assert errors[0]["check"] == "malformed_xml" and raw["records_before"] == 3
    # 31 good partner orders + 3001 (broken.xml's 1002 and 1003 upsert onto the same rows)
    assert query(database_url, "SELECT count(*), max(order_id) FROM partner_orders") == [(32, 3001)]
    (source,) = query(
        database_url, "SELECT _polaretl_source FROM partner_orders WHERE order_id = 2003"
    )[0]
    assert source.endswith("globex_2026-11-01.xml:record 3")
    again = pipeline.run(database_url=database_url)
    assert (again.processed, again.loaded) == (0, 0)
