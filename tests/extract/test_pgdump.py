"""PgDumpExtractor on real pg_dump output from the local PostgreSQL, and hostile files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import polars as pl
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from polaretl.errors import ExtractError
from polaretl.extract.pgdump import PgDumpExtractor
from polaretl.extract.pgdump.copy_text import copy_frame
from polaretl.extract.pgdump.inserts import decode_tokens

PG_DUMP = next(
    (p for p in ("/usr/bin/pg_dump", "/usr/lib/postgresql/15/bin/pg_dump") if os.path.exists(p)),
    shutil.which("pg_dump"),
)

TRICKY = [
    "",
    " ",
    "plain",
    "tab\there",
    "new\nline",
    "cr\rreturn",
    "crlf\r\n",
    "back\\slash",
    "\\",
    "\\\\",
    "\\N",
    "\\.",
    ".",
    "\\.\n",
    "\n\\.\n",
    "it's",
    "''",
    'dq"x',
    "semi;colon",
    "$$d$$",
    "$tag$ x",
    "-- not a comment",
    "/* nor this */",
    "E'x'",
    "ü€😀 日本語",
    "\b\f\v",
    "\x01ctl",
    "trailing\\",
    "a\tb\tc",
    "NULL",
    "null",
    "\\x41",
    "\\101",
    "COPY t FROM stdin;",
    "\\! touch X",
    "\\\\.",
    "'",
    "(1, 'a'), (2, 'b')",
    "x" * 3000,
]
COLUMNS = ["id", "a", "b", "flag", "amount", "ratio", "ts", "tags", "doc", "raw", "Mixed Case"]


def make_source(url: str, rows: int = 60) -> None:
    """A table holding every awkward value above, NULLs and empty strings side by side."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE public.things (
                 id integer PRIMARY KEY, a text, b varchar(5000), flag boolean,
                 amount numeric(12,3), ratio double precision, ts timestamptz, tags text[],
                 doc jsonb, raw bytea, "Mixed Case" text,
                 twice integer GENERATED ALWAYS AS (id * 2) STORED)"""
        )
        conn.execute("CREATE TABLE public.other (x integer, y text)")
        conn.execute("CREATE SCHEMA side")
        conn.execute("CREATE TABLE side.things (id integer, a text)")
        conn.execute("INSERT INTO side.things VALUES (1, 'side')")
        conn.execute("INSERT INTO public.other VALUES (1, 'o1'), (2, NULL)")
        n = len(TRICKY)
        data = []
        for i in range(rows):
            a = None if i % 11 == 5 else TRICKY[i % n]
            b = TRICKY[(i * 7 + 3) % n] if i % 13 != 4 else None
            data.append(
                (
                    i,
                    a,
                    b,
                    None if i % 3 == 0 else i % 2 == 0,
                    None if i % 4 == 1 else i * 1.125,
                    1 / (i + 3),
                    None if i % 5 == 0 else f"2024-01-{i % 28 + 1:02d} 10:{i % 60:02d}:00+00",
                    [TRICKY[(i + 2) % n], None, "x"],
                    json.dumps({"k": TRICKY[i % n]}),
                    TRICKY[i % n].encode(),
                    TRICKY[(i + 5) % n],
                )
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.things (id, a, b, flag, amount, ratio, ts, tags, doc, raw,"
                ' "Mixed Case") VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s::jsonb,%s,%s)',
                data,
            )


def source_frame(url: str, table: str = "public.things", cols: list[str] = COLUMNS) -> pl.DataFrame:
    """The source table as PostgreSQL prints it (text output of each type), by id."""
    select = ", ".join(f'"{c}"' for c in cols)
    with psycopg.connect(url) as conn:
        conn.execute("SET extra_float_digits = 3")  # as pg_dump does
        with conn.cursor().copy(f"COPY (SELECT {select} FROM {table} ORDER BY 1) TO STDOUT") as cp:
            rows = list(cp.rows())
    return pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")


def pg_dump(url: str, out: Path, *args: str) -> Path:
    assert PG_DUMP is not None
    subprocess.run([PG_DUMP, f"--dbname={url}", "--file", str(out), *args], check=True, timeout=60)
    return out


def read_all(ex: PgDumpExtractor, slice_: str, chunk_size: int = 1000, state=None):
    return list(ex.read(slice_, state, chunk_size))


def frame_of(chunks) -> pl.DataFrame:
    return pl.concat([c.frame for c in chunks if c.frame.height], how="diagonal")


FORMATS = {
    "copy": [],
    "inserts": ["--inserts"],
    "column-inserts": ["--column-inserts"],
    "rows-per-insert": ["--rows-per-insert=3"],
}


@pytest.fixture(scope="module")
def dumped(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory):
    """One source database and its four dumps, shared by this module's tests (read-only:
    a test that changes a dump works on a copy)."""
    if PG_DUMP is None:
        pytest.skip("pg_dump is not installed (apt-get install postgresql-client)")
    name = f"polaretl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_dsn, dbname=name)
    try:
        make_source(url)
        folder = tmp_path_factory.mktemp("dumps")
        files = {fmt: pg_dump(url, folder / f"{fmt}.sql", *args) for fmt, args in FORMATS.items()}
        yield url, files
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_value_round_trips_exactly(dumped, fmt: str) -> None:
    url, files = dumped
    ex = PgDumpExtractor(str(files[fmt]), tables=["public.things"])
    chunks = read_all(ex, ex.slices()[0], chunk_size=17)
    got = frame_of(chunks)
    assert all(c.rejects is None for c in chunks)
    assert chunks[-1].position["done"] and not any(c.position["done"] for c in chunks[:-1])
    assert all(c.frame.height <= 17 for c in chunks)
    assert got.columns == COLUMNS  # the generated column is not data, in any format
    assert_frame_equal(got.sort(pl.col("id").cast(pl.Int64)), source_frame(url))
    # NULL and the empty string stay apart
    assert got.filter(pl.col("a") == "").height > 0 and got.get_column("a").null_count() > 0
    labels = pl.concat([c.sources for c in chunks if c.sources is not None])
    assert labels.str.starts_with(f"{files[fmt]}:").all()


@pytest.mark.postgres
def test_gzip_reads_like_plain_and_resumes(dumped, tmp_path: Path) -> None:
    _, files = dumped
    gz = tmp_path / "copy.sql.gz"
    gz.write_bytes(gzip.compress(files["copy"].read_bytes()))
    plain = PgDumpExtractor(str(files["copy"]), tables=["public.things"])
    packed = PgDumpExtractor(str(tmp_path / "*.sql.gz"), tables=["public.things"])
    want = frame_of(read_all(plain, plain.slices()[0]))
    chunks = read_all(packed, packed.slices()[0], chunk_size=25)
    assert_frame_equal(frame_of(chunks), want)
    resumed = read_all(packed, packed.slices()[0], 25, state=chunks[0].position)
    assert_frame_equal(frame_of(chunks[:1] + resumed), want)


@pytest.mark.postgres
@pytest.mark.parametrize("fmt,chunk_size", [("copy", 7), ("rows-per-insert", 2), ("inserts", 5)])
def test_resume_skips_exactly_what_was_committed(
    dumped, tmp_path: Path, fmt: str, chunk_size: int
) -> None:
    dump = shutil.copy(dumped[1][fmt], tmp_path / "dump.sql")  # this test changes it
    ex = PgDumpExtractor(str(dump), tables=["public.things"])
    slice_ = ex.slices()[0]
    chunks = read_all(ex, slice_, chunk_size)
    full = frame_of(chunks)
    full_sources = pl.concat([c.sources for c in chunks])
    for k in range(0, len(chunks) - 1, 3):
        position = json.loads(json.dumps(chunks[k].position))  # as stored in PostgreSQL
        rest = read_all(ex, slice_, chunk_size, state=position)
        before = sum(c.frame.height for c in chunks[: k + 1])
        assert position["records"] == before
        got = frame_of(chunks[: k + 1] + rest)
        assert_frame_equal(got, full)
        assert pl.concat([c.sources for c in rest]).to_list() == full_sources[before:].to_list()
    # finished and unchanged: nothing more; changed file: read again from the start
    assert read_all(ex, slice_, chunk_size, state=chunks[-1].position) == []
    with open(dump, "a") as fh:
        fh.write("\n-- touched\n")
    assert frame_of(read_all(ex, slice_, chunk_size, state=chunks[-1].position)).height == 60


@pytest.mark.postgres
def test_pick_tables_by_schema_qualified_name(dumped) -> None:
    _, files = dumped
    ex = PgDumpExtractor(str(files["copy"]))
    names = [s.rsplit("::", 1)[1] for s in ex.slices()]
    assert names == ["public.other", "public.things", "side.things"]
    side = PgDumpExtractor(str(files["inserts"]), tables=["side.things"])
    assert frame_of(read_all(side, side.slices()[0])).rows() == [("1", "side")]
    other = PgDumpExtractor(str(files["column-inserts"]), tables=["public.other"])
    assert frame_of(read_all(other, other.slices()[0])).rows() == [("1", "o1"), ("2", None)]
    missing = PgDumpExtractor(str(files["copy"]), tables=["public.nope"])
    with pytest.raises(ExtractError, match="public.nope not found.*public.things"):
        read_all(missing, missing.slices()[0])


def test_hostile_file_is_parsed_never_executed(tmp_path: Path) -> None:
    canaries = [tmp_path / f"CANARY{i}" for i in range(1, 6)]
    dump = tmp_path / "hostile.sql"
    dump.write_text(
        f"""\\! touch {canaries[0]}
SET standard_conforming_strings = on;
CREATE TABLE public.t (id integer, s text);
COPY public.t FROM PROGRAM 'touch {canaries[1]}';
COPY public.t (id, s) FROM '/etc/passwd';
CREATE FUNCTION public.evil() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1; -- COPY public.t (id, s) FROM stdin;
  EXECUTE 'COPY public.t FROM PROGRAM ''touch {canaries[2]}''';
END $fn$;
DO $$ BEGIN PERFORM 'it''s; \\! touch {canaries[2]}'; END $$;
/* a comment; with COPY public.t (id, s) FROM stdin; /* nested */ still */
\\o {tmp_path / "out.txt"}
COPY public.t (id, s) FROM stdin;
1\tok
2\t\\\\! touch {canaries[3]}
\\.
INSERT INTO public.t VALUES (3, 'after'); \\! touch {canaries[4]}
\\copy public.t (id, s) from stdin
4\tvia \\\\copy
\\.
\\copy public.other from stdin
not\tours
\\.
SELECT public.evil();
\\set ON_ERROR_STOP on
"""
    )
    ex = PgDumpExtractor(str(dump), tables=["public.t"])
    chunks = read_all(ex, ex.slices()[0])
    assert frame_of(chunks).rows() == [
        ("1", "ok"),
        ("2", f"\\! touch {canaries[3]}"),
        ("3", "after"),
        ("4", "via \\copy"),
    ]
    assert not any(p.exists() for p in canaries)
    assert not (tmp_path / "out.txt").exists()


def test_malformed_lines_go_to_rejects_with_line_numbers(tmp_path: Path) -> None:
    dump = tmp_path / "bad.sql"
    dump.write_text(
        "CREATE TABLE public.t (id integer, s text);\n"  # 1
        "COPY public.t (id, s) FROM stdin;\n"  # 2
        "1\ta\n"  # 3
        "2\tb\textra\n"  # 4
        "3\n"  # 5
        "4\td\n"  # 6
        "\\.\n"  # 7
        "INSERT INTO public.t VALUES (5, 'e');\n"  # 8
        "INSERT INTO public.t VALUES (6, 'f' 'g');\n"  # 9
        "INSERT INTO public.t VALUES (7, 'h', 'i');\n"  # 10
        "INSERT INTO public.t (id, s) VALUES\n\t(8, 'x'),\n\t(9);\n"  # 11-13
    )
    ex = PgDumpExtractor(str(dump), tables=["public.t"])
    chunks = read_all(ex, ex.slices()[0], chunk_size=100)
    assert frame_of(chunks).rows() == [("1", "a"), ("4", "d"), ("5", "e"), ("8", "x")]
    rejects = pl.concat([c.rejects for c in chunks if c.rejects is not None])
    lines = [json.loads(e)[0]["line"] for e in rejects.get_column("errors")]
    assert lines == [4, 5, 9, 10, 13]
    raws = [json.loads(r) for r in rejects.get_column("raw")]
    assert raws[:2] == ["2\tb\textra", "3"]
    assert raws[2] == "INSERT INTO public.t VALUES (6, 'f' 'g');"
    assert raws[3:] == ["(7, 'h', 'i')", "(9)"]
    assert rejects.get_column("source").to_list()[0] == f"{dump}:4"
    assert sum(c.received for c in chunks) == 9


def test_escapes_beyond_what_pg_dump_writes(tmp_path: Path) -> None:
    dump = tmp_path / "esc.sql"
    dump.write_bytes(
        b"CREATE TABLE t (id int, s text);\n"
        b"COPY t (id, s) FROM stdin;\n"
        b"1\t\\101\\x42\\q\\\\x41\\303\\251\n"
        b"2\t\\b\\f\\v\\r\\n\\t\\\\\n"
        b"\\.\n"
        b"INSERT INTO t VALUES (3, E'it\\'s\\t\\x41\\u00e9''');\n"
        b"INSERT INTO t VALUES (4, 'e''s'::text), (5, B'101'), (-6, X'1F');\n"
        b"SET standard_conforming_strings = off;\n"
        b"INSERT INTO t VALUES (7, 'a\\\\b\\'c');\n"
        b"SET standard_conforming_strings = on;\n"
        b"INSERT INTO t VALUES (8, 'a\\b');\n"
    )
    ex = PgDumpExtractor(str(dump), tables=["t"])
    assert frame_of(read_all(ex, ex.slices()[0])).rows() == [
        ("1", "ABq\\x41é"),
        ("2", "\b\f\v\r\n\t\\"),
        ("3", "it's\tAé'"),
        ("4", "e's"),
        ("5", "101"),
        ("-6", "00011111"),
        ("7", "a\\b'c"),
        ("8", "a\\b"),
    ]


def copy_escape(value: str) -> str:
    """What PostgreSQL's COPY TO writes for a text value."""
    out = value.replace("\\", "\\\\")
    for ch, esc in (
        ("\b", "\\b"),
        ("\f", "\\f"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\v", "\\v"),
    ):
        out = out.replace(ch, esc)
    return out


text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.none() | text, st.none() | text), min_size=1, max_size=20))
def test_copy_frame_inverts_copy_escaping(rows) -> None:
    region = "".join(
        "\t".join("\\N" if v is None else copy_escape(v) for v in row) + "\n" for row in rows
    ).encode()
    frame, kept, bad = copy_frame(region, ["a", "b"], "utf-8")
    assert bad == [] and kept.to_list() == list(range(len(rows)))
    assert frame.rows() == rows


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.none() | text, min_size=1, max_size=20))
def test_insert_tokens_invert_sql_quoting(values) -> None:
    tokens = [["NULL" if v is None else "'" + v.replace("'", "''") + "'"] for v in values]
    assert decode_tokens(tokens, ["v"], True).get_column("v").to_list() == values


@pytest.mark.postgres
def test_legacy_dump_through_a_pipeline(database_url: str) -> None:
    import polaretl as pe
    from contracts.legacy_customers import LegacyCustomer

    root = Path(__file__).resolve().parents[2]
    pipeline = pe.Pipeline(
        "legacy_customers",
        extractor=PgDumpExtractor(str(root / "data/dumps/legacy.sql"), tables=["public.customers"]),
        contract=LegacyCustomer,
        loader=pe.PostgresLoader("legacy_customers", key="customer_id", mode="upsert"),
    )
    first = pipeline.run(database_url=database_url)
    assert (first.status, first.processed, first.valid, first.rejected, first.loaded) == (
        "succeeded",
        12,
        11,
        1,
        11,
    )
    with psycopg.connect(database_url) as conn:
        notes = dict(conn.execute("SELECT customer_id, notes FROM legacy_customers").fetchall())
        bad = conn.execute("SELECT source, raw->>'email' FROM polaretl.quarantine").fetchall()
    assert notes[4] == "line one\nline two" and notes[10] == "\\N is not null"
    assert notes[1] is None and notes[3] == ""
    assert bad == [(f"{root}/data/dumps/legacy.sql:70", "not-an-email")]
    again = pipeline.run(database_url=database_url)  # unchanged file: nothing to read
    assert (again.status, again.processed) == ("succeeded", 0)


def test_runs_of_single_row_inserts_take_the_vectorised_path_exactly(tmp_path: Path) -> None:
    lines = [
        "SET standard_conforming_strings = on;",
        "CREATE TABLE public.t (id int, s text, n int);",
    ]
    want = []
    for i in range(1, 301):
        if i == 150:
            lines.append("INSERT INTO public.t VALUES (150, 'x' 'y', 1);")  # unparsable
        elif i == 200:
            lines.append("INSERT INTO public.t VALUES (200, 'two\nlines', NULL);")
            want.append(("200", "two\nlines", None))
        else:
            s = f"it''s {i}" if i % 7 else ""
            lines.append(f"INSERT INTO public.t VALUES ({i}, '{s}', {'NULL' if i % 5 else i});")
            want.append((str(i), s.replace("''", "'"), None if i % 5 else str(i)))
    dump = tmp_path / "runs.sql"
    dump.write_text("\n".join(lines) + "\n")
    ex = PgDumpExtractor(str(dump), tables=["public.t"])
    chunks = read_all(ex, ex.slices()[0], chunk_size=64)
    assert frame_of(chunks).rows() == want
    assert all(c.received <= 64 for c in chunks)
    rejects = pl.concat([c.rejects for c in chunks if c.rejects is not None])
    assert rejects.get_column("source").to_list() == [f"{dump}:152"]
    sources = pl.concat([c.sources for c in chunks]).to_list()
    assert sources[:2] == [f"{dump}:3", f"{dump}:4"] and f"{dump}:202" in sources
    for k in range(len(chunks) - 1):
        rest = read_all(ex, ex.slices()[0], 64, state=chunks[k].position)
        assert frame_of(chunks[: k + 1] + rest).rows() == want


def test_client_encoding_is_honoured(tmp_path: Path) -> None:
    dump = tmp_path / "latin1.sql"
    dump.write_bytes(
        b"SET client_encoding = 'LATIN1';\n"
        b"CREATE TABLE t (id int, s text);\n"
        b"COPY t (id, s) FROM stdin;\n1\tcaf\xe9\n\\.\n"
        b"INSERT INTO t VALUES (2, 'na\xefve');\n"
    )
    ex = PgDumpExtractor(str(dump), tables=["t"])
    assert frame_of(read_all(ex, ex.slices()[0])).rows() == [("1", "café"), ("2", "naïve")]
    dump.write_bytes(b"SET client_encoding = 'SJIS';\nCREATE TABLE t (id int);\n")
    with pytest.raises(ExtractError, match="pg_dump --encoding=UTF8"):
        read_all(ex, ex.slices()[0])


def test_invalid_utf8_is_rejected_not_replaced(tmp_path: Path) -> None:
    dump = tmp_path / "bad_utf8.sql"
    dump.write_bytes(
        b"CREATE TABLE t (id int, s text);\n"
        b"COPY t (id, s) FROM stdin;\n1\tok\n2\tbad \xff byte\n\\.\n"
        b"INSERT INTO t VALUES (3, 'bad \xfe too');\n"
        b"INSERT INTO t VALUES (4, 'fine');\n"
    )
    ex = PgDumpExtractor(str(dump), tables=["t"])
    chunks = read_all(ex, ex.slices()[0])
    assert frame_of(chunks).rows() == [("1", "ok"), ("4", "fine")]
    rejects = pl.concat([c.rejects for c in chunks if c.rejects is not None])
    assert rejects.get_column("source").to_list() == [f"{dump}:4", f"{dump}:6"]
    messages = [json.loads(e)[0]["message"] for e in rejects.get_column("errors")]
    assert "UTF-8" in messages[0] and "utf-8" in messages[1]
    assert json.loads(rejects.get_column("raw")[1]) == "INSERT INTO t VALUES (3, 'bad \\xfe too');"


@pytest.mark.parametrize("chunk_size", [7, 50, 1000])
def test_runs_of_multi_row_inserts_take_the_vectorised_path_exactly(
    tmp_path: Path, chunk_size: int
) -> None:
    lines = ["CREATE TABLE public.t (id int, s text);"]
    want, where = [], {}
    for stmt in range(40):
        lines.append("INSERT INTO public.t VALUES")
        for k in range(5):
            i = stmt * 5 + k
            end = ";" if k == 4 else ","
            if stmt == 13 and k == 2:
                lines.append(f"\t({i}){end}")  # one value short: rejected alone
                continue
            s = f"multi\nline {i}" if stmt == 20 and k == 1 else f"v''{i}"
            where[str(i)] = sum(line.count("\n") + 1 for line in lines) + 1
            lines.append(f"\t({i}, '{s}'){end}")
            want.append((str(i), s.replace("''", "'")))
    dump = tmp_path / "rpi.sql"
    dump.write_text("\n".join(lines) + "\n")
    ex = PgDumpExtractor(str(dump), tables=["public.t"])
    chunks = read_all(ex, ex.slices()[0], chunk_size)
    got = frame_of(chunks)
    assert got.rows() == want
    assert all(c.received <= chunk_size for c in chunks)
    labels = pl.concat([c.sources for c in chunks]).to_list()
    assert labels == [f"{dump}:{where[i]}" for i, _ in want]
    rejects = pl.concat([c.rejects for c in chunks if c.rejects is not None])
    assert [json.loads(r) for r in rejects.get_column("raw")] == ["(67)"]
    for k in range(0, len(chunks) - 1, 3):
        rest = read_all(ex, ex.slices()[0], chunk_size, state=chunks[k].position)
        assert frame_of(chunks[: k + 1] + rest).rows() == want


def test_no_matching_dump_fails_loudly_unless_missing_ok(tmp_path):
    pattern = str(tmp_path / "*.sql")
    with pytest.raises(ExtractError, match="No dump file matches .*missing_ok=True"):
        PgDumpExtractor(pattern).slices()
    assert PgDumpExtractor(pattern, missing_ok=True).slices() == []
