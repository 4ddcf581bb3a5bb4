"""Hostile CSV files end to end into PostgreSQL: every value loads byte-exact or its
record is quarantined with a reason; never a silent change, a truncated load or a
duplicate. Each scenario ends with the invariants A-D (`tests/faults/invariants.py`)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandera.polars as pa
import pytest

import polaretl as pe
from polaretl.extract import csv as csv_extractor
from tests.faults import invariants
from tests.helpers import query

pytestmark = pytest.mark.postgres


class Rec(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    v: str = pa.Field(nullable=True)


def pipeline(folder: Path) -> pe.Pipeline:
    return pe.Pipeline(
        "files",
        extractor=pe.CsvExtractor(f"{folder}/*.csv"),
        contract=Rec,
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
        chunk_size=2,  # several batches even for these small files
    )


def loaded(url: str) -> list[tuple[Any, ...]]:
    return query(url, "SELECT id, v FROM t ORDER BY id")


def quarantined(url: str) -> list[tuple[str, Any, list[dict[str, Any]]]]:
    """(row number, raw, errors) of every quarantined record, by row number."""
    got = query(url, "SELECT source, raw, errors FROM polaretl.quarantine ORDER BY id")
    return sorted(((s.rsplit(":", 1)[1], r, e) for s, r, e in got), key=lambda x: int(x[0]))


# (file bytes, rows loaded, [(row, raw as received, check, words of the message)])
CASES: dict[str, tuple[bytes, list[tuple[int, str | None]], list[tuple[str, Any, str, str]]]] = {
    "too_few_fields": (
        b"id,v\n1,a\n2\n3,c\n",
        [(1, "a"), (3, "c")],
        [("3", "2", "csv_format", "row 3: expected 2 fields, found 1")],
    ),
    "too_many_fields": (
        b"id,v\n1,a\n2,b,c\n3,c\n",
        [(1, "a"), (3, "c")],
        [("3", "2,b,c", "csv_format", "row 3: expected 2 fields, found 3")],
    ),
    # a quote inside an unquoted field is data; an odd number of them is no open quote
    "stray_quotes_in_fields": (
        b'id,v\n1,a"b\n2,"ok"\n3,c\n',
        [(1, 'a"b'), (2, "ok"), (3, "c")],
        [],
    ),
    # an even number of quotes in all, yet one is left open and swallows the rest
    "stray_quote_then_unterminated": (
        b'id,v\n1,5\'10"\n2,"open\n3,c\n',
        [(1, "5'10\"")],
        [("3", '2,"open\n3,c\n', "csv_format", "row 3: unterminated quote")],
    ),
    "text_after_closing_quote": (
        b'id,v\n1,"x"y\n2,"ok"\n',
        [(2, "ok")],
        [("2", '1,"x"y', "csv_format", "text after the closing quote of a field ('y')")],
    ),
    "unterminated_quote": (
        b'id,v\n1,a\n2,"open\n3,c\n',
        [(1, "a")],
        [("3", '2,"open\n3,c\n', "csv_format", "row 3: unterminated quote")],
    ),
    "crlf_line_endings": (
        b"id,v\r\n1,a\r\n2,b c\r\n",
        [(1, "a"), (2, "b c")],
        [],
    ),
    "quoted_embedded_newlines": (
        b'id,v\n1,"l1\nl2"\n2,"cr\r\nlf"\n3,x\n',
        [(1, "l1\nl2"), (2, "cr\r\nlf"), (3, "x")],
        [],
    ),
    "nul_byte": (
        b"id,v\n1,a\x00b\n2,ok\n",
        [(2, "ok")],
        [("2", {"id": "1", "v": "a\\x00b"}, "nul_byte", "column v holds a NUL byte")],
    ),
    "utf8_bom": (
        "\ufeffid,v\n1,é\n2,数据\n".encode(),
        [(1, "é"), (2, "数据")],
        [],
    ),
    "cp1252_bytes_in_utf8": (
        b"id,v\n1,ok\n2,caf\xe9 \x93q\x94\n3,fine\n",
        [(1, "ok"), (3, "fine")],
        [
            (
                "3",
                {"id": "2", "v": "caf\\xe9 \\x93q\\x94"},
                "encoding",
                "column v is not valid UTF-8 (shown with \\x escapes); if the file is in "
                "another encoding, set CsvExtractor(encoding=...)",
            )
        ],
    ),
    # `\.` ends COPY's text format: as a line it is a malformed record, as a value data
    "copy_end_marker": (
        b'id,v\n1,\\.\n\\.\n2,b\n3,"\\."\n',
        [(1, "\\."), (2, "b"), (3, "\\.")],
        [("3", "\\.", "csv_format", "row 3: expected 2 fields, found 1")],
    ),
    "tabs_and_backslashes": (
        b'id,v\n1,a\tb\n2,C:\\new\\x\n3,\\N\n4,trail\\\n5,"q\\"\n6,\\\\\n7,\\t\\r\\n\n',
        [
            (1, "a\tb"),
            (2, "C:\\new\\x"),
            (3, "\\N"),
            (4, "trail\\"),
            (5, "q\\"),
            (6, "\\\\"),
            (7, "\\t\\r\\n"),
        ],
        [],
    ),
    "empty_file": (b"", [], []),
    "header_only": (b"id,v\n", [], []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_loads_exact_values_or_quarantines_with_a_reason(
    tmp_path: Path, database_url: str, case: str
) -> None:
    data, rows, rejects = CASES[case]
    (tmp_path / "f.csv").write_bytes(data)
    result = pipeline(tmp_path).run(database_url=database_url)
    assert result.status == "succeeded"
    assert (result.processed, result.loaded) == (len(rows) + len(rejects), len(rows))
    assert loaded(database_url) == rows
    got = quarantined(database_url)
    assert [(row, raw) for row, raw, _ in got] == [(row, raw) for row, raw, *_ in rejects]
    for (_, _, errors), (row, _, check, words) in zip(got, rejects, strict=True):
        assert [e["check"] for e in errors] == [check]
        assert words in errors[0]["message"] and f"row {row}" in errors[0]["message"]
    invariants.check(
        database_url,
        pipeline="files",
        table="t",
        key="id",
        source=invariants.Source(records=len(rows) + len(rejects), bad=len(rejects)),
    )


def test_backslash_n_is_text_not_null(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "f.csv").write_bytes(b"id,v\n1,\\N\n2,\n3,NULL\n")
    pipeline(tmp_path).run(database_url=database_url)
    assert query(database_url, "SELECT id, v, v IS NULL FROM t ORDER BY id") == [
        (1, "\\N", False),
        (2, None, True),  # the empty field is the one null value configured
        (3, "NULL", False),
    ]


def test_appended_rows_are_the_only_ones_read_again(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,v\n1,a\n2,b\nx,bad\n3,c\n")
    first = pipeline(tmp_path).run(database_url=database_url)
    assert (first.processed, first.loaded, first.rejected) == (4, 3, 1)
    with path.open("ab") as handle:
        handle.write(b"4,d\ny,bad too\n5,e\n")
    second = pipeline(tmp_path).run(database_url=database_url)
    assert (second.processed, second.loaded, second.rejected) == (3, 2, 1)
    assert query(database_url, "SELECT id, v, _polaretl_run_id FROM t ORDER BY id") == [
        (1, "a", first.run_id),
        (2, "b", first.run_id),
        (3, "c", first.run_id),
        (4, "d", second.run_id),
        (5, "e", second.run_id),
    ]
    assert [(row, raw) for row, raw, _ in quarantined(database_url)] == [
        ("4", {"id": "x", "v": "bad"}),
        ("7", {"id": "y", "v": "bad too"}),
    ]
    third = pipeline(tmp_path).run(database_url=database_url)
    assert third.processed == 0
    invariants.check(
        database_url, pipeline="files", table="t", key="id", source=invariants.Source(7, 2)
    )


def test_rewritten_file_updates_the_changed_row_without_duplicates(
    tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,v\n1,a\n2,b\n3,c\n")
    first = pipeline(tmp_path).run(database_url=database_url)
    path.write_bytes(b"id,v\n1,a\n2,B\n3,c\n4,d\n")  # a value changed, a row added
    second = pipeline(tmp_path).run(database_url=database_url)
    assert second.processed == 4  # a rewritten file is read again from the start
    assert query(database_url, "SELECT id, v, _polaretl_run_id FROM t ORDER BY id") == [
        (1, "a", first.run_id),  # unchanged rows are not rewritten
        (2, "B", second.run_id),
        (3, "c", first.run_id),
        (4, "d", second.run_id),
    ]
    assert pipeline(tmp_path).run(database_url=database_url).processed == 0
    # the file's two versions were both checkpointed: checkpoints count rows 1-3 twice
    invariants.check(
        database_url,
        pipeline="files",
        table="t",
        key="id",
        source=invariants.Source(4, 0),
        checkpoints_cover_all=False,
    )


def test_a_rewritten_file_does_not_leave_a_bad_row_pending_twice(
    tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,v\n1,a\nx,bad\n")
    first = pipeline(tmp_path).run(database_url=database_url)
    path.write_bytes(b"id,v\n1,A\nx,bad\n")
    second = pipeline(tmp_path).run(database_url=database_url)
    assert (first.rejected, second.rejected) == (1, 1)  # each run keeps what it rejected
    assert query(
        database_url,
        "SELECT run_id, status, discard_reason FROM polaretl.quarantine ORDER BY id",
    ) == [
        (first.run_id, "discarded", f"superseded: received again by run {second.run_id}"),
        (second.run_id, "pending", None),
    ]
    invariants.check(
        database_url,
        pipeline="files",
        table="t",
        key="id",
        source=invariants.Source(2, 1),
        checkpoints_cover_all=False,
    )


def test_a_50_mb_field_loads_byte_exact(tmp_path: Path, database_url: str) -> None:
    # longer than pyarrow's 4 MiB block: it used to fail every run, "near record 1"
    big = ("x" * 1000 + '"\n,') * 50_000  # quotes, line breaks and commas inside: ~50 MB
    quoted = '"' + big.replace('"', '""') + '"'
    (tmp_path / "f.csv").write_text(f"id,v\n1,a\n2,{quoted}\n3,c\n", encoding="utf-8")
    result = pipeline(tmp_path).run(database_url=database_url)
    assert (result.status, result.processed, result.loaded, result.rejected) == (
        "succeeded",
        3,
        3,
        0,
    )
    assert query(database_url, "SELECT id, length(v), md5(v) FROM t ORDER BY id") == [
        (1, 1, hashlib.md5(b"a").hexdigest()),
        (2, len(big), hashlib.md5(big.encode()).hexdigest()),
        (3, 1, hashlib.md5(b"c").hexdigest()),
    ]
    invariants.check(
        database_url, pipeline="files", table="t", key="id", source=invariants.Source(3, 0)
    )


def test_a_record_longer_than_the_largest_block_fails_naming_it_and_what_was_committed(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_extractor, "_MAX_BLOCK", 8 << 20)  # stands in for 1 GiB
    path = tmp_path / "f.csv"
    # records 1-2, then one pyarrow cannot parse even in the largest block, then more:
    # records 1-2 are in the block that fails, so none of them can be given out
    path.write_text("id,v\n1,a\n2,b\n3," + "x" * (17 << 20) + "\n4,d\n", encoding="utf-8")
    with pytest.raises(pe.RunFailedError) as info:
        pipeline(tmp_path).run(database_url=database_url)  # two records a batch
    said = (
        f"{path}: the CSV parser stopped: record 3 ({path}:4) is longer than 8 MiB, the "
        "most polaretl parses as one record (a PostgreSQL text value holds up to 1 GB). Of "
        "this file, no record was committed; fix the file and run again."
    )
    assert str(info.value) == f"Run 1 of files failed: {said}"
    assert query(database_url, "SELECT status, error FROM polaretl.runs") == [("failed", said)]
    assert loaded(database_url) == []
    # four records of 3 MiB first: the batch of 1-2 is committed; 3-4 share the block
    # that fails with the long record's start
    filler = "".join(f"{i},{'y' * (3 << 20)}\n" for i in range(1, 5))
    path.write_text("id,v\n" + filler + "5," + "x" * (17 << 20) + "\n6,f\n", encoding="utf-8")
    with pytest.raises(pe.RunFailedError) as info:
        pipeline(tmp_path).run(database_url=database_url)
    assert str(info.value) == (
        f"Run 2 of files failed: {path}: the CSV parser stopped: record 5 ({path}:6) is longer "
        "than 8 MiB, the most polaretl parses as one record (a PostgreSQL text value holds up "
        "to 1 GB). Of this file, records 1-2 were committed in earlier batches, none from "
        "record 3 on; fix the file and run again."
    )
    assert query(database_url, "SELECT id, length(v) FROM t ORDER BY id") == [
        (1, 3 << 20),
        (2, 3 << 20),
    ]


def test_a_header_that_repeats_a_name_quarantines_its_file_and_the_glob_loads(
    tmp_path: Path, database_url: str
) -> None:
    # before: Polars' DuplicateError, naming no file, and no file of the glob loaded
    (tmp_path / "a.csv").write_bytes(b"id,v,v\n1,007,b\n2,c,d\n3,e,f\n")
    (tmp_path / "b.csv").write_bytes(b"id,v\n4,g\n5,h\n")
    result = pipeline(tmp_path).run(database_url=database_url)
    assert (result.status, result.processed, result.loaded, result.rejected) == (
        "succeeded",
        5,
        2,
        3,
    )
    assert loaded(database_url) == [(4, "g"), (5, "h")]
    fault = (
        f"the header of {tmp_path}/a.csv repeats column v (columns 2 and 3), so which field "
        "is v cannot be told; rename the repeated columns in the header and run again"
    )
    assert quarantined(database_url) == [
        (
            str(line),
            {"id": key, "v (column 2)": second, "v (column 3)": third},  # as received
            [
                {
                    "column": None,
                    "check": "csv_header",
                    "value": None,
                    "message": f"row {line}: {fault}",
                    "line": line,
                }
            ],
        )
        for line, key, second, third in [
            (2, "1", "007", "b"),
            (3, "2", "c", "d"),
            (4, "3", "e", "f"),
        ]
    ]
    assert pipeline(tmp_path).run(database_url=database_url).processed == 0  # done with it
    invariants.check(
        database_url, pipeline="files", table="t", key="id", source=invariants.Source(5, 3)
    )


def test_repeated_column_names_given_to_the_extractor_are_refused() -> None:
    with pytest.raises(pe.ConfigError, match=r"columns= names a column twice: \['id', 'v', 'v'\]"):
        pe.CsvExtractor("x.csv", header=False, columns=["id", "v", "v"])
