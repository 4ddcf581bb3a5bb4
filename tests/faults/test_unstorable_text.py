"""Text PostgreSQL cannot store (a NUL, a lone surrogate, bytes that are not UTF-8) in
every source: the record holding it is quarantined, named by its source (file:line,
URL#index, file:row, key), its raw kept escaped so that it round-trips
(`polaretl.extract.storable`), and the rest of the source loads. Before, one such value
failed the run on every retry with `UnicodeEncodeError` / `invalid byte sequence for
encoding "UTF8": 0x00`, naming no record.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polaretl as pe
from polaretl.extract.base import Chunk, Extractor
from polaretl.extract.storable import escape, storable_record, unescape
from tests.extract.restserver import RestServer
from tests.faults import invariants
from tests.helpers import query

pytestmark = pytest.mark.postgres

NUL = (
    "holds a NUL character (shown as \\x00), which PostgreSQL text cannot store; remove it "
    "from the source"
)
NOT_UTF8 = (
    "is not valid UTF-8 text (a byte that is not UTF-8 is shown as \\xNN, a lone surrogate "
    "as \\udNNN), which PostgreSQL text cannot store; fix the source's encoding"
)


class Rec(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    v: str = pa.Field(nullable=True)


def run(extractor: pe.Extractor, url: str, **kw: Any) -> pe.RunResult:
    pipeline = pe.Pipeline(
        "text",
        extractor=extractor,
        contract=Rec,
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
        chunk_size=kw.pop("chunk_size", 2),
        **kw,
    )
    return pipeline.run(database_url=url)


def loaded(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT id, v FROM t ORDER BY id")


def quarantined(url: str) -> list[tuple[str, Any, list[dict[str, Any]]]]:
    return query(url, "SELECT source, raw, errors FROM polaretl.quarantine ORDER BY id")


def escaped_error(column: str | None, check: str, source: str, value: str | None) -> dict:
    where = f"column {column}" if column is not None else "the record"
    return {
        "column": column,
        "check": check,
        "value": value,
        "message": f"{source}: {where} {NUL if check == 'nul_byte' else NOT_UTF8}",
        "escaped": True,
    }


def holds(url: str, records: int, bad: int) -> None:
    invariants.check(
        url, pipeline="text", table="t", key="id", source=invariants.Source(records, bad)
    )


# --- REST ------------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[RestServer]:
    with RestServer([]) as server:
        yield server


def test_rest_quarantines_the_records_and_loads_the_rest(api: RestServer, database_url) -> None:
    api.raw_body = (
        b'[{"id": 1, "v": "a"}, {"id": 2, "v": "x\\u0000y"}, {"id": 3, "v": "\\ud800"},'
        b' {"id": 4, "v": "ok", "n": {"deep": "\\u0000"}}, {"id": 5, "v": "z\\\\q\\u00e9"},'
        b' {"id": 6, "v": "b\xffc"}, {"id": 7, "v": "\\ud83d\\ude00"}]'
    )
    url = api.url("/raw")
    result = run(pe.RestExtractor(url), database_url)
    assert (result.status, result.processed, result.loaded, result.rejected) == (
        "succeeded",
        7,
        3,
        4,
    )
    assert loaded(database_url) == [(1, "a"), (5, "z\\q\u00e9"), (7, "\U0001f600")]
    assert quarantined(database_url) == [
        (
            f"{url}#1",
            {"id": 2, "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{url}#1", "x\\x00y")],
        ),
        (
            f"{url}#2",
            {"id": 3, "v": "\\ud800"},
            [escaped_error("v", "encoding", f"{url}#2", "\\ud800")],
        ),
        (
            f"{url}#3",
            {"id": 4, "v": "ok", "n": {"deep": "\\x00"}},  # the whole field n escaped
            [escaped_error("n", "nul_byte", f"{url}#3", None)],
        ),
        (
            f"{url}#5",
            {"id": 6, "v": "b\\xffc"},  # a byte that is not UTF-8, in a JSON string
            [escaped_error("v", "encoding", f"{url}#5", "b\\xffc")],
        ),
    ]
    raws = [raw["v"] for _, raw, _ in quarantined(database_url)]
    assert [unescape(v) for v in raws] == ["x\x00y", "\ud800", "ok", "b\udcffc"]
    holds(database_url, 7, 4)


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_quarantines_nul_and_text_that_is_not_utf8(tmp_path: Path, database_url) -> None:
    values = arrow.array([b"a", b"x\x00y", b"c", b"d\xff\\", b"e"], arrow.binary())
    text = arrow.Array.from_buffers(arrow.string(), 5, values.buffers())  # as a writer may
    path = tmp_path / "f.parquet"
    pq.write_table(arrow.table({"id": [1, 2, 3, 4, 5], "v": text}), path)
    result = run(pe.ParquetExtractor(str(path)), database_url)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 3, 2)
    assert loaded(database_url) == [(1, "a"), (3, "c"), (5, "e")]
    assert quarantined(database_url) == [
        (
            f"{path}:row 2",
            {"id": 2, "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{path}:row 2", "x\\x00y")],
        ),
        (
            f"{path}:row 4",
            {"id": 4, "v": "d\\xff\\\\"},  # the backslash doubled: the value round-trips
            [escaped_error("v", "encoding", f"{path}:row 4", "d\\xff\\\\")],
        ),
    ]
    assert unescape("d\\xff\\\\").encode("utf-8", "surrogateescape") == b"d\xff\\"
    holds(database_url, 5, 2)


# --- pg_dump ---------------------------------------------------------------------------------


def test_pgdump_copy_rejects_the_lines_and_loads_the_rest(tmp_path: Path, database_url) -> None:
    path = tmp_path / "dump.sql"
    path.write_bytes(
        b"SET standard_conforming_strings = on;\n"
        b"COPY public.t (id, v) FROM stdin;\n"
        b"1\ta\n"
        b"2\tx\\000y\n"  # an octal escape for NUL
        b"3\tx\x00y\n"  # a NUL byte
        b"4\tb\\xffc\n"  # a hex escape making a byte that is not UTF-8
        b"5\tb\xffc\n"  # a byte that is not UTF-8
        b"6\tz\n"
        b"\\.\n"
    )
    result = run(pe.PgDumpExtractor(str(path), ["t"]), database_url, chunk_size=100)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 2, 4)
    assert loaded(database_url) == [(1, "a"), (6, "z")]
    assert quarantined(database_url) == [
        (
            f"{path}:6",
            "4\tb\\xffc",  # the line as written: PostgreSQL would refuse it too
            [
                {
                    "column": None,
                    "check": "encoding",
                    "value": None,
                    "message": "malformed COPY line: column v: its escapes make bytes that "
                    "are not UTF-8, which PostgreSQL text cannot store (nor would PostgreSQL "
                    "load this line)",
                    "line": 6,
                }
            ],
        ),
        (
            f"{path}:7",
            "5\tb\\xffc",  # the line's byte escaped (the record is marked escaped)
            [
                {
                    "column": None,
                    "check": "encoding",
                    "value": None,
                    "message": "malformed COPY line: not valid UTF-8: invalid start byte",
                    "line": 7,
                    "escaped": True,
                }
            ],
        ),
        (
            f"{path}:4",
            {"id": "2", "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{path}:4", "x\\x00y")],
        ),
        (
            f"{path}:5",
            {"id": "3", "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{path}:5", "x\\x00y")],
        ),
    ]
    holds(database_url, 6, 4)


def test_pgdump_inserts_reject_the_rows_and_load_the_rest(tmp_path: Path, database_url) -> None:
    path = tmp_path / "dump.sql"
    insert = "INSERT INTO public.t (id, v) VALUES "
    path.write_bytes(
        (
            "SET standard_conforming_strings = on;\n"
            f"{insert}(1, 'a');\n"
            f"{insert}(2, E'x\\000y');\n"
            f"{insert}(3, E'b\\xffc');\n"
            f"{insert}(4, E'\\ud800');\n"
            f"{insert}(5, 'x\x00y');\n"
            f"{insert}(6, 'z');\n"
        ).encode()
    )
    result = run(pe.PgDumpExtractor(str(path), ["t"]), database_url, chunk_size=100)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 2, 4)
    assert loaded(database_url) == [(1, "a"), (6, "z")]
    escapes = (
        "its escapes make text that is not valid UTF-8 (a byte that is not UTF-8, a lone "
        "surrogate), which PostgreSQL text cannot store (nor would PostgreSQL load it)"
    )
    got = {source: (raw, errors) for source, raw, errors in quarantined(database_url)}
    assert got == {
        f"{path}:4": (
            "(3, E'b\\xffc')",
            [
                {
                    "column": None,
                    "check": "encoding",
                    "value": None,
                    "message": f"column v: {escapes}",
                    "line": 4,
                }
            ],
        ),
        f"{path}:5": (
            "(4, E'\\ud800')",
            [
                {
                    "column": None,
                    "check": "encoding",
                    "value": None,
                    "message": f"column v: {escapes}",
                    "line": 5,
                }
            ],
        ),
        f"{path}:3": (
            {"id": "2", "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{path}:3", "x\\x00y")],
        ),
        f"{path}:6": (
            {"id": "5", "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", f"{path}:6", "x\\x00y")],
        ),
    }
    holds(database_url, 6, 4)


# --- SQL (SQLite can hold a NUL; PostgreSQL cannot) ----------------------------------------------


def test_sqlite_row_with_nul_is_quarantined_by_key(tmp_path: Path, database_url) -> None:
    db = tmp_path / "s.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE src (id integer PRIMARY KEY, v text)")
        conn.executemany("INSERT INTO src VALUES (?, ?)", [(1, "a"), (2, "x\x00y"), (3, "c")])
    extractor = pe.SqlExtractor(f"sqlite:///{db}", table="src", key="id")
    result = run(extractor, database_url)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 2, 1)
    assert loaded(database_url) == [(1, "a"), (3, "c")]
    assert quarantined(database_url) == [
        (
            "src:id=2",
            {"id": 2, "v": "x\\x00y"},
            [escaped_error("v", "nul_byte", "src:id=2", "x\\x00y")],
        )
    ]


# --- CSV, XML ----------------------------------------------------------------------------------


def test_csv_nul_next_to_a_backslash_round_trips(tmp_path: Path, database_url) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,v\n1,a\\b\n2,\\x00 is\x00not\\\n3,c\n")
    result = run(pe.CsvExtractor(str(path)), database_url)
    assert (result.loaded, result.rejected) == (2, 1)
    assert loaded(database_url) == [(1, "a\\b"), (3, "c")]  # backslashes as received
    ((source, raw, errors),) = quarantined(database_url)
    assert (source, raw) == (f"{path}:3", {"id": "2", "v": "\\\\x00 is\\x00not\\\\"})
    assert [(e["column"], e["check"], e["escaped"]) for e in errors] == [("v", "nul_byte", True)]
    assert unescape(raw["v"]) == "\\x00 is\x00not\\"  # the literal text and the NUL told apart


def test_xml_with_a_nul_names_file_and_line(tmp_path: Path, database_url) -> None:
    # XML 1.0 cannot hold a NUL (not even as &#0;): the file is malformed from there on
    path = tmp_path / "f.xml"
    path.write_bytes(b"<r>\n<o><id>1</id><v>a</v></o>\n<o><id>2</id><v>x&#0;y</v></o>\n</r>\n")
    result = run(pe.XmlExtractor(str(path), record_tag="o"), database_url)
    assert result.status == "succeeded"
    source, _, errors = quarantined(database_url)[-1]
    assert source == f"{path}:line 3"
    assert errors[0]["check"] == "malformed_xml"
    assert f"{path}, line 3, column" in errors[0]["message"]
    assert "invalid xmlChar value 0" in errors[0]["message"]


# --- every other source: one check on every chunk, and the loader's last line ----------------


class Frames(Extractor):
    """A custom source handing over frames (and rejects) as they are."""

    def __init__(self, frame: pl.DataFrame, rejects: pl.DataFrame | None = None) -> None:
        self.frame, self.rejects = frame, rejects

    def read(self, slice: str, state: Any, chunk_size: int) -> Iterator[Chunk]:
        if state is None:
            labels = pl.Series([f"mine:{i}" for i in self.frame["id"]])
            yield Chunk(self.frame, "mine", {"done": 1}, sources=labels, rejects=self.rejects)


def test_any_source_with_a_nul_gets_its_record_quarantined(database_url) -> None:
    frame = pl.DataFrame(
        {
            "id": ["1", "2", "3", "x"],
            "v": ["a", "b\x00\\", None, "c"],
            "w": ["\x00", "", "", "\x00"],  # not in the contract: not loaded, not checked
        }
    )
    result = run(Frames(frame), database_url)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 2, 2)
    assert loaded(database_url) == [(1, "a"), (3, None)]
    (second, fourth) = quarantined(database_url)
    assert second == (
        "mine:2",
        {"id": "2", "v": "b\\x00\\\\", "w": ""},
        [escaped_error("v", "nul_byte", "mine:2", "b\\x00\\\\")],
    )
    # quarantined by the contract (id is no integer): its raw is stored escaped, named
    assert fourth[:2] == ("mine:x", {"id": "x", "v": "c", "w": "\\x00"})
    assert fourth[2][0]["column"] == "id"
    assert fourth[2][1:] == [escaped_error("w", "nul_byte", "mine:x", "\\x00")]


def test_rejects_a_source_built_itself_are_stored_escaped(database_url) -> None:
    rejects = pl.DataFrame(
        {
            "source": ["mine:9"],
            "raw": ['{"id": "9", "v": "x\\u0000y", "w": "\\ud800"}'],
            "errors": ['[{"column": null, "check": "mine", "value": null, "message": "bad"}]'],
        }
    )
    result = run(Frames(pl.DataFrame({"id": ["1"], "v": ["a"]}), rejects), database_url)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 1, 1)
    ((source, raw, errors),) = quarantined(database_url)
    assert (source, raw) == ("mine:9", {"id": "9", "v": "x\\x00y", "w": "\\ud800"})
    assert errors == [
        {"column": None, "check": "mine", "value": None, "message": "bad"},
        escaped_error("v", "nul_byte", "mine:9", "x\\x00y"),
        escaped_error("w", "encoding", "mine:9", "\\ud800"),
    ]


def test_a_transform_that_puts_a_nul_fails_the_batch_naming_column_and_rows(database_url) -> None:
    frame = pl.DataFrame({"id": ["1", "2"], "v": ["a", "b"]})
    nul = [lambda lf: lf.with_columns(pl.col("v").str.replace("b", "b\x00"))]
    with pytest.raises(pe.RunFailedError) as info:
        run(Frames(frame), database_url, transforms=nul)
    said = (
        "Column v holds a NUL character (\\x00) in 1 row(s) to load into t (from mine:2), "
        "which PostgreSQL text cannot store. Sources' NUL characters are quarantined before "
        "the contract, so a transform put it there: remove it in the transform (e.g. "
        ".str.replace_all('\\x00', '')) and run again. The batch was rolled back."
    )
    assert str(info.value).endswith(said)
    assert query(database_url, "SELECT status, error FROM polaretl.runs") == [("failed", said)]
    assert query(database_url, "SELECT count(*) FROM t") == [(0,)]


# --- replay: an escaped record is never loaded as its escapes ----------------------------------


def test_an_escaped_record_replays_only_once_corrected(tmp_path: Path, database_url) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,v\n1,a\n2,x\x00y\n")
    pipeline = pe.Pipeline(
        "text",
        extractor=pe.CsvExtractor(str(path)),
        contract=Rec,
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
    )
    pipeline.run(database_url=database_url)
    first = pe.replay(pipeline, database_url=database_url)
    assert (first.loaded, first.metrics["needs_correction"]) == (0, 1)  # not "x\x00y" text
    assert loaded(database_url) == [(1, "a")]
    ((qid,),) = query(database_url, "SELECT id FROM polaretl.quarantine")
    fixed = pl.DataFrame({"_quarantine_id": [qid], "id": ["2"], "v": ["xy"]})
    second = pe.replay(pipeline, corrections=fixed, database_url=database_url)
    assert second.loaded == 1
    assert loaded(database_url) == [(1, "a"), (2, "xy")]


# --- the escape itself --------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))


@settings(max_examples=300, deadline=None)
@given(value=ANY_TEXT)
def test_escape_round_trips_any_text(value: str) -> None:
    shown = escape(value)
    shown.encode("utf-8")  # storable: no surrogate left
    assert "\x00" not in shown and unescape(shown) == value


@settings(max_examples=300, deadline=None)
@given(value=st.binary())
def test_escape_round_trips_any_bytes(value: bytes) -> None:
    assert unescape(escape(value)).encode("utf-8", "surrogateescape") == value


@settings(max_examples=200, deadline=None)
@given(raw=st.dictionaries(ANY_TEXT, ANY_TEXT | st.lists(ANY_TEXT, max_size=3) | st.none()))
def test_a_stored_record_holds_no_nul_or_surrogate_and_names_what_it_escaped(raw: dict) -> None:
    stored, errors = storable_record(raw, [], "src:1")
    json.dumps([stored, errors], ensure_ascii=False).encode("utf-8")  # no lone surrogate
    assert "\\u0000" not in json.dumps([stored, errors])  # no NUL
    escaped = {e["column"] for e in errors if e.get("escaped")}

    def back(value: Any) -> Any:
        if isinstance(value, str):
            return unescape(value)
        if isinstance(value, list):
            return [back(v) for v in value]
        return {back(k): back(v) for k, v in value.items()} if isinstance(value, dict) else value

    if None in escaped:  # a key held the fault: the whole record escaped
        assert back(stored) == raw
    else:
        assert {k: back(v) if k in escaped else v for k, v in stored.items()} == raw
    if not escaped:
        assert (stored, errors) == (raw, [])
