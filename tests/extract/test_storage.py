"""File sources in an object store (a real S3-compatible server, moto): listing, every
format read exactly as from disk, grown / replaced / missing objects, refused
credentials with the secret masked, throttling and dropped connections retried."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import polaretl as pe
from polaretl.errors import ConfigError, ExtractError
from polaretl.extract import storage
from polaretl.extract.base import Extractor
from polaretl.extract.files import fingerprint
from tests.s3server import Bucket, FaultProxy


def read_all(ext: Extractor, state: Any = None, chunk_size: int = 2) -> list[Any]:
    """Every chunk of every slice (`state` is given to each slice)."""
    return [c for s in ext.slices() for c in ext.read(s, state, chunk_size)]


def frame(chunks: list[Any]) -> pl.DataFrame:
    return pl.concat([c.frame for c in chunks if c.frame.width], how="diagonal")


def labels(chunks: list[Any], prefix: str) -> list[str]:
    return [s.removeprefix(prefix) for c in chunks for s in c.source_labels().to_list()]


def parquet_bytes(first: str = "a") -> bytes:
    out = io.BytesIO()
    table = pa.table({"id": [1, 2, 3, 4, 5], "v": [first, "b", None, "d", "e"]})
    pq.write_table(table, out, row_group_size=2)
    return out.getvalue()


DUMP = (
    b"SET standard_conforming_strings = on;\n"
    b"COPY public.t (id, v) FROM stdin;\n1\ta\n2\tb\\tc\n3\t\\N\n\\.\n"
    b"INSERT INTO public.t (id, v) VALUES (4, 'd'), (5, 'it''s');\n"
)

#: format -> (file name, bytes, extractor for a path)
FORMATS: dict[str, tuple[str, bytes, Any]] = {
    "csv": ("a.csv", b'id,v\n1,a\n2,"b,c"\n3,\n4,"x""y"\n5,e\n', pe.CsvExtractor),
    "ndjson": (
        "a.ndjson",
        b'{"id": 1, "v": "a"}\n\n{"id": 2, "v": {"k": 7}}\n{"id": 3}\nnot json\n',
        pe.NdjsonExtractor,
    ),
    "parquet": ("a.parquet", parquet_bytes(), pe.ParquetExtractor),
    "xml": (
        "a.xml",
        b'<?xml version="1.0"?><orders><order id="1"><v>a</v></order>'
        b'<order id="2"><v>b &amp; c</v></order><order id="3"/></orders>',
        lambda p: pe.XmlExtractor(p, "order", fields={"id": "@id", "v": "v"}),
    ),
    "pgdump": ("a.sql", DUMP, lambda p: pe.PgDumpExtractor(p, tables="public.t")),
    "pgdump_gzip": ("a.sql.gz", gzip.compress(DUMP), lambda p: pe.PgDumpExtractor(p)),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_every_format_reads_the_same_from_s3_as_from_disk(
    s3: Bucket, tmp_path: Path, kind: str
) -> None:
    name, data, make = FORMATS[kind]
    (tmp_path / name).write_bytes(data)
    s3.put(f"in/{name}", data)
    local = read_all(make(f"{tmp_path}/*{Path(name).suffix}"))
    remote = read_all(make(s3.url("in/*" + Path(name).suffix)))
    assert frame(remote).equals(frame(local))
    assert labels(remote, s3.url("in/")) == labels(local, f"{tmp_path}/")
    assert all(label.startswith(s3.url("in/")) for c in remote for label in c.source_labels())
    rejects = [c.rejects for c in remote if c.rejects is not None]
    assert len(rejects) == len([c.rejects for c in local if c.rejects is not None])
    # a finished, unchanged object is skipped on the next run
    ext = make(s3.url("in/*" + Path(name).suffix))
    assert [c for s in ext.slices() for c in ext.read(s, remote[-1].position, 2)] == []
    # a replaced one (same size, one value changed) is read again from the start
    changed = parquet_bytes("A") if kind == "parquet" else data.replace(b"a", b"A", 1)
    if kind.startswith("pgdump"):
        changed = DUMP.replace(b"\ta\n", b"\tA\n")
        changed = gzip.compress(changed) if kind == "pgdump_gzip" else changed
    (tmp_path / name).write_bytes(changed)
    s3.put(f"in/{name}", changed)
    again = [c for s in ext.slices() for c in ext.read(s, remote[-1].position, 2)]
    assert frame(again).equals(frame(read_all(make(f"{tmp_path}/*{Path(name).suffix}"))))
    assert not frame(again).equals(frame(remote))


def test_globs_list_objects_like_files(s3: Bucket) -> None:
    for key in ("d/a.csv", "d/b.csv", "d/c.txt", "d/x/e.csv", "d/x/y/f.csv", "d/x/", "e.csv"):
        s3.put(key, b"id\n1\n")
    assert storage.expand(s3.url("d/*.csv")) == [s3.url("d/a.csv"), s3.url("d/b.csv")]
    assert storage.expand(s3.url("d/**/*.csv")) == [
        s3.url(k) for k in ("d/a.csv", "d/b.csv", "d/x/e.csv", "d/x/y/f.csv")
    ]
    assert storage.expand(s3.url("d/?.[ct][sx][vt]")) == [
        s3.url(k) for k in ("d/a.csv", "d/b.csv", "d/c.txt")
    ]
    assert storage.expand(s3.url("*.csv")) == [s3.url("e.csv")]
    assert storage.expand(s3.url("d/a.csv")) == [s3.url("d/a.csv")]  # no glob: one object
    assert storage.expand(s3.url("d/nothing.csv")) == []
    both = pe.CsvExtractor([s3.url("d/a.csv"), s3.url("d/*.csv")]).slices()
    assert both == [s3.url("d/a.csv"), s3.url("d/b.csv")]


def test_a_glob_matching_nothing_fails_unless_missing_ok(s3: Bucket) -> None:
    pattern = s3.url("none/*.csv")
    for ext in (pe.CsvExtractor(pattern), pe.ParquetExtractor(pattern)):
        with pytest.raises(ExtractError, match="No file matches s3://") as info:
            ext.slices()
        assert "relative to" not in str(info.value)
    assert pe.CsvExtractor(pattern, missing_ok=True).slices() == []
    assert pe.PgDumpExtractor(pattern, missing_ok=True).slices() == []


def test_grown_object_resumes_and_replaced_object_is_read_again(s3: Bucket) -> None:
    url = s3.put("f.csv", b"id\n1\n2\n")
    ext = pe.CsvExtractor(url)
    last = read_all(ext)[-1].position
    assert read_all(ext, last) == []
    s3.put("f.csv", b"id\n1\n2\n3\n")  # a longer object with the old one as its start
    grown = read_all(ext, last)
    assert frame(grown)["id"].to_list() == ["3"]
    assert labels(grown, url) == [":4"]
    s3.put("f.csv", b"id\n1\n9\n3\n")  # same size, other bytes: read from the start
    assert frame(read_all(ext, grown[-1].position))["id"].to_list() == ["1", "9", "3"]


def test_fingerprint_is_size_etag_and_edges_read_with_small_ranges(s3: Bucket) -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(3_000_000))  # ~23 MB
    url = s3.put("big.csv", data)
    info = storage.stat(url)
    with FaultProxy(s3.server) as proxy, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        fp = fingerprint(url)
        ranges = [r for m, _, r in proxy.faults.log if m == "GET"]
    size, tag, _ = fp.split(":")
    assert (int(size), tag) == (len(data), info.tag)
    assert len(ranges) == 2 and all(r is not None for r in ranges)  # two edges, no body
    for header in ranges:
        start, end = map(int, header.removeprefix("bytes=").split("-"))
        assert end - start < storage.FIRST_RANGE


def test_sequential_read_streams_one_ranged_get_after_a_small_first_one(s3: Bucket) -> None:
    data = bytes(range(256)) * 40_000  # ~10 MB
    url = s3.put("blob.bin", data)
    with FaultProxy(s3.server) as proxy, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        with storage.open_binary(url) as handle:
            got = b"".join(iter(lambda: handle.read(1 << 20), b""))
            handle.seek(5_000_000)
            tail = handle.read(10)
        gets = [r for m, _, r in proxy.faults.log if m == "GET"]
    assert got == data and tail == data[5_000_000:5_000_010]
    first = 1 << 20  # the first read after opening: a bounded range
    assert gets == [f"bytes=0-{first - 1}", f"bytes={first}-{len(data) - 1}", gets[2]]
    assert gets[2].startswith("bytes=5000000-")


def test_object_replaced_mid_read_fails_instead_of_mixing_versions(s3: Bucket) -> None:
    url = s3.put("r.bin", b"a" * (8 << 20))
    with storage.open_binary(url) as handle:
        handle.read(1 << 20)
        s3.put("r.bin", b"b" * (8 << 20))
        handle.seek(6 << 20)  # a new request: it names the ETag first seen
        with pytest.raises(ExtractError, match="replaced while reading it"):
            handle.read(10)


def test_an_object_deleted_after_listing_fails_clearly(s3: Bucket) -> None:
    url = s3.put("gone.csv", b"id\n1\n")
    ext = pe.CsvExtractor(s3.url("*.csv"))
    (only,) = ext.slices()
    s3.delete("gone.csv")
    with pytest.raises(ExtractError, match=f"{url} does not exist"):
        list(ext.read(only, None, 10))


def test_wrong_credentials_are_refused_clearly_with_the_secret_masked(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put("a.csv", b"id\n1\n")
    secret = "wR0ng-Secret-Value-123"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for call in (
        lambda: pe.CsvExtractor(s3.url("*.csv")).slices(),  # a listing
        lambda: pe.CsvExtractor(s3.url("a.csv")).slices(),  # a HEAD
        lambda: list(pe.CsvExtractor("x").read(s3.url("a.csv"), None, 10)),
    ):
        with pytest.raises(ExtractError, match="was refused") as info:
            call()
        message = str(info.value)
        assert secret not in message and "AWS_SECRET_ACCESS_KEY is never shown" in message
        assert s3.server.key[:4] + "…" in message and s3.server.key not in message


def test_credentials_in_an_object_url_are_refused_and_masked() -> None:
    with pytest.raises(ConfigError, match="take no credentials") as info:
        pe.CsvExtractor("s3://AKIAEXAMPLE:hunter2secret@bucket/a.csv").slices()
    assert "hunter2secret" not in str(info.value)


def test_throttling_is_retried_within_the_budget(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.put("t.csv", b"id\n1\n2\n")
    with FaultProxy(s3.server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.faults.slowdown = 3  # the listing, then HEAD/GETs answered 503 SlowDown
        chunks = read_all(pe.CsvExtractor(s3.url("*.csv")))
        assert frame(chunks)["id"].to_list() == ["1", "2"]
        assert proxy.faults.slowdown == 0
        monkeypatch.setenv("POLARETL_STORAGE_RETRIES", "2")
        proxy.faults.slowdown = 1000
        with pytest.raises(ExtractError, match="after up to 2 retries") as info:
            list(pe.CsvExtractor(url).read(url, None, 10))
        assert "503" in str(info.value) and s3.server.secret not in str(info.value)
        assert 1000 - proxy.faults.slowdown == 3  # the first try and two retries
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3.server.endpoint)
        info = storage.stat(url)  # then throttled mid-read: the GETs share the same budget
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.faults.slowdown = 1000
        with pytest.raises(ExtractError, match="after up to 2 retries"):
            storage.open_binary(url, info).read()
        assert 1000 - proxy.faults.slowdown == 3


def test_a_dropped_connection_resumes_at_the_byte_reached(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps({"id": i, "v": f"x{i}"}).encode() for i in range(200_000)]
    data = b"\n".join(lines) + b"\n"  # ~5 MB: the first range and one streamed GET
    url = s3.put("e.ndjson", data)
    with FaultProxy(s3.server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.faults.cut = 3
        with storage.open_binary(url) as handle:
            assert handle.read() == data
        assert proxy.faults.cut == 0
        proxy.faults.cut = 2
        got = frame(read_all(pe.NdjsonExtractor(url), chunk_size=50_000))
    assert got["id"].to_list() == [str(i) for i in range(200_000)]


def test_file_urls_are_local_paths(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"id\n1\n")
    ext = pe.CsvExtractor(f"file://{tmp_path}/*.csv")
    assert ext.slices() == [str(tmp_path / "a.csv")]
    assert frame(read_all(ext))["id"].to_list() == ["1"]


def test_hostile_csv_objects_read_as_the_same_files_on_disk(s3: Bucket, tmp_path: Path) -> None:
    """The quoting check streams an object (no mmap); faults found take the local walk."""
    from tests.faults.test_files import CASES

    for case, (data, *_) in CASES.items():
        (tmp_path / f"{case}.csv").write_bytes(data)
        s3.put(f"{case}.csv", data)
        local = read_all(pe.CsvExtractor(str(tmp_path / f"{case}.csv")))
        remote = read_all(pe.CsvExtractor(s3.url(f"{case}.csv")))
        got = [(c.frame.to_dicts(), c.position) for c in remote]
        assert got == [
            (c.frame.to_dicts(), c.position | {"fp": r.position["fp"]})
            for c, r in zip(local, remote, strict=True)
        ], case
        rejects = [c.rejects for c in remote if c.rejects is not None]
        expected = [c.rejects for c in local if c.rejects is not None]
        assert [r["raw"].to_list() for r in rejects] == [r["raw"].to_list() for r in expected]


def test_quoting_check_streams_blocks_and_finds_a_fault_past_the_first_block(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polaretl.extract import csv_quotes

    monkeypatch.setattr(csv_quotes, "_BLOCK", 64)  # many blocks, fields across their edges
    body = b"".join(b'%d,"quoted, %d"\n' % (i, i) for i in range(1, 200))
    bad = b'200,"x"y\n201,"ok"\n'
    url = s3.put("q.csv", b"id,v\n" + body + bad)
    problems, open_end = csv_quotes.quote_problems(url, ",", '"', "utf8", 1)
    assert list(problems) == [200] and not open_end
    clean = s3.put("c.csv", b"id,v\n" + body)
    assert csv_quotes.quote_problems(clean, ",", '"', "utf8", 1) == ({}, False)


@pytest.mark.parametrize("quote", ['"', None])
def test_the_record_too_long_to_parse_is_named_in_an_object_as_on_disk(
    s3: Bucket, tmp_path: Path, quote: str | None
) -> None:
    """The cold scan behind "record N is longer than ..." reads an object like a file."""
    from polaretl.extract import csv_quotes

    data = b'id,v\n1,a\n2,"' + b"x" * 300 + b'"\n3,c\n'
    (tmp_path / "long.csv").write_bytes(data)
    url = s3.put("long.csv", data)
    local = csv_quotes.long_record(str(tmp_path / "long.csv"), ",", quote, "utf8", 1, 64)
    assert local == 2
    assert csv_quotes.long_record(url, ",", quote, "utf8", 1, 64) == local


def test_a_broken_xml_object_keeps_the_records_before_its_break_and_its_tail(
    s3: Bucket, tmp_path: Path
) -> None:
    """The break handling reads an object as it reads a file: the same records, and the
    same quarantined tail (its range measured on the object, its exact text)."""
    records = b"".join(b'<order id="%d"><v>x</v></order>' % i for i in range(1, 9))
    data = b"<orders>" + records.replace(b'id="6"><v>x</v>', b'id="6"><v>x</w>') + b"</orders>"
    (tmp_path / "b.xml").write_bytes(data)
    url = s3.put("b.xml", data)
    fields = {"id": "@id", "v": "v"}
    local = read_all(pe.XmlExtractor(str(tmp_path / "b.xml"), "order", fields=fields))
    remote = read_all(pe.XmlExtractor(url, "order", fields=fields))
    assert frame(remote)["id"].to_list() == ["1", "2", "3", "4", "5"]
    assert frame(remote).equals(frame(local))
    (raw,) = [json.loads(r) for c in remote if c.rejects is not None for r in c.rejects["raw"]]
    (expected,) = [json.loads(r) for c in local if c.rejects is not None for r in c.rejects["raw"]]
    assert raw["tail"] == expected["tail"] == data[raw["tail_bytes"][0] :].decode()
    assert raw["tail_bytes"] == expected["tail_bytes"] and raw["tail_bytes"][1] == len(data)
