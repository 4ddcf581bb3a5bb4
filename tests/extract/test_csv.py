"""CsvExtractor on hostile files: every record is yielded or rejected with its row."""

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polaretl.errors import ExtractError
from polaretl.extract.csv import CsvExtractor


def read_all(path: Path, chunk_size: int = 1000, state=None, **options):
    ext = CsvExtractor(str(path), **options)
    return list(ext.read(str(path), state, chunk_size))


def rows(chunks) -> list[dict]:
    return [r for c in chunks for r in c.frame.to_dicts()]


def rejects(chunks) -> list[dict]:
    out = []
    for c in chunks:
        if c.rejects is not None:
            out += [
                {**r, "errors": json.loads(r["errors"]), "raw": json.loads(r["raw"])}
                for r in c.rejects.to_dicts()
            ]
    return sorted(out, key=lambda r: int(r["source"].rsplit(":", 1)[1]))


def write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_malformed_lines_are_rejected_with_row_and_raw_text(tmp_path):
    path = write(tmp_path, b'id,name\n1,a\n2\n3,"x,y"\n4,d,extra\n5,"open\n6,f\n')
    chunks = read_all(path)
    assert rows(chunks) == [{"id": "1", "name": "a"}, {"id": "3", "name": "x,y"}]
    bad = rejects(chunks)
    assert [(r["source"], r["raw"]) for r in bad] == [
        (f"{path}:3", "2"),
        (f"{path}:5", "4,d,extra"),
        (f"{path}:6", '5,"open\n6,f\n'),  # an unterminated quote swallows the rest: kept
    ]
    assert bad[0]["errors"][0]["message"] == "row 3: expected 2 fields, found 1"
    assert chunks[-1].position["done"] is True


def test_undecodable_bytes_reject_the_row_not_the_file(tmp_path):
    path = write(tmp_path, b"id,name\n1,ok\n2,\xff\xfebad\n3,fine\n")
    chunks = read_all(path)
    assert rows(chunks) == [{"id": "1", "name": "ok"}, {"id": "3", "name": "fine"}]
    (bad,) = rejects(chunks)
    assert bad["source"] == f"{path}:3"
    assert bad["raw"] == {"id": "2", "name": "\\xff\\xfebad"}
    assert bad["errors"][0]["check"] == "encoding"


def test_bom_crlf_and_latin1(tmp_path):
    bom = write(tmp_path, "\ufeffid,name\r\n1,é\r\n".encode(), "bom.csv")
    assert rows(read_all(bom)) == [{"id": "1", "name": "é"}]
    assert rows(read_all(bom, encoding="utf-8-sig")) == [{"id": "1", "name": "é"}]
    latin = write(tmp_path, "id,name\n1,été\n".encode("latin-1"), "latin.csv")
    assert rows(read_all(latin, encoding="latin-1")) == [{"id": "1", "name": "été"}]


def test_empty_and_header_only_files_yield_a_finished_empty_chunk(tmp_path):
    for data in (b"", b"id,name\n"):
        chunks = read_all(write(tmp_path, data))
        assert sum(c.frame.height for c in chunks) == 0
        assert chunks[-1].position["done"] is True


def test_options_delimiter_quote_no_header(tmp_path):
    path = write(tmp_path, b"1;'a;b'\n2;c\n")
    got = rows(read_all(path, delimiter=";", quote="'", header=False, columns=["id", "name"]))
    assert got == [{"id": "1", "name": "a;b"}, {"id": "2", "name": "c"}]


def test_values_stay_exactly_as_received(tmp_path):
    path = write(tmp_path, b'id,v\n1,"  spaced  "\n2,NA\n3,\n4,"tab\there"\n5,back\\slash\n')
    got = [r["v"] for r in rows(read_all(path))]
    assert got == ["  spaced  ", "NA", "", "tab\there", "back\\slash"]


def test_a_finished_unchanged_file_is_skipped_and_a_changed_one_reread(tmp_path):
    path = write(tmp_path, b"id\n1\n2\n")
    last = read_all(path)[-1].position
    assert read_all(path, state=last) == []
    path.write_bytes(b"id\n1\n2\n3\n")  # appended: only the new record is read
    assert rows(read_all(path, state=last)) == [{"id": "3"}]
    path.write_bytes(b"id\n1\n9\n3\n")  # rewritten: read again from the start
    assert len(rows(read_all(path, state=last))) == 3


def test_no_matching_file_fails_loudly(tmp_path):
    with pytest.raises(ExtractError, match="No file matches"):
        CsvExtractor(str(tmp_path / "*.csv")).slices()
    assert CsvExtractor(str(tmp_path / "*.csv"), missing_ok=True).slices() == []


record = st.one_of(
    st.tuples(st.integers(0, 99), st.sampled_from(["a", "b c", '"q,x"', ""])).map(
        lambda t: f"{t[0]},{t[1]}"
    ),
    st.sampled_from(["bad", "1,2,3", "x,\xe9"]),  # wrong field counts, a non-UTF-8 byte
)


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(record, max_size=30), chunk_size=st.integers(1, 7), cut=st.integers(0, 10))
def test_resume_from_any_committed_chunk_repeats_and_skips_nothing(
    tmp_path_factory, lines, chunk_size, cut
):
    folder = tmp_path_factory.mktemp("resume")
    data = ("id,name\n" + "".join(line + "\n" for line in lines)).encode("latin-1")
    path = write(folder, data)
    whole = read_all(path, chunk_size=chunk_size)
    full = [
        (r, "ok") for c in whole for r in (c.sources.to_list() if c.sources is not None else [])
    ]
    full += [(r["source"], "bad") for r in rejects(whole)]
    assert len(full) == len(lines)  # every record is accounted for, once
    k = min(cut, len(whole) - 1)
    first = whole[: k + 1]
    rest = read_all(path, chunk_size=chunk_size, state=first[-1].position)
    seen = [s for c in first + rest for s in (c.sources.to_list() if c.sources is not None else [])]
    seen += [r["source"] for r in rejects(first + rest)]
    assert sorted(seen) == sorted(s for s, _ in full)
    assert all(c.frame.height <= chunk_size for c in whole)
    assert pl.concat([c.frame for c in first + rest]).height == sum(c.frame.height for c in whole)
