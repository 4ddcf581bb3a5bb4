"""SqlExtractor against the local PostgreSQL (a fresh database per test) and SQLite."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import traceback
from pathlib import Path

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from polaretl.errors import ConfigError, ExtractError, TransientExtractError
from polaretl.extract.sql import SqlExtractor

PASSWORD = "Sup3r-Secret-pw"
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
N = 1000


def with_password(url: str) -> str:
    """The same server as a URL holding a password (trust auth ignores it)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return (
        f"postgresql://{info.get('user', 'postgres')}:{PASSWORD}@{info.get('host', '127.0.0.1')}"
        f":{info.get('port', 5432)}/{info['dbname']}"
    )


@pytest.fixture
def pg_url(database_url: str) -> str:
    """public.orders (N rows, order_id PK, updated_at with ties, NULL notes) and
    public.events (customer_id repeated, some NULL)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE public.orders (order_id integer PRIMARY KEY, customer_id integer,
                 amount numeric(10,2), status text, updated_at timestamptz, note text)"""
        )
        conn.execute(
            """INSERT INTO public.orders SELECT g, g %% 37, (g * 1.25)::numeric(10,2),
                 (ARRAY['new','paid','shipped'])[1 + g %% 3],
                 %s::timestamptz + (g / 3) * interval '1 minute',
                 CASE WHEN g %% 4 = 0 THEN NULL ELSE 'n' || g END
               FROM generate_series(1, %s) g""",
            (BASE, N),
        )
        conn.execute("CREATE TABLE public.events (customer_id integer, seq integer, kind text)")
        conn.execute(
            """INSERT INTO public.events SELECT CASE WHEN g % 50 = 0 THEN NULL ELSE g / 10 END,
                 g, 'k' || g FROM generate_series(1, 300) g"""
        )
        conn.execute("INSERT INTO public.events SELECT 999, g, 'big' FROM generate_series(1, 60) g")
    return with_password(database_url)


def source(url: str, table: str = "public.orders") -> pl.DataFrame:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return pl.DataFrame(rows, orient="row", infer_schema_length=None)


def read_all(ex: SqlExtractor, slice_: str, chunk_size: int, state=None):
    return list(ex.read(slice_, state, chunk_size))


def frame_of(chunks) -> pl.DataFrame:
    frames = [c.frame for c in chunks if c.frame.height]
    return pl.concat(frames) if frames else pl.DataFrame()


def no_secret(*things) -> None:
    for thing in things:
        assert PASSWORD not in json.dumps(thing, default=str)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["adbc", "psycopg"])
def test_partitions_cover_every_row_exactly_once(pg_url: str, engine: str) -> None:
    if engine == "adbc":
        pytest.importorskip("adbc_driver_postgresql")
    ex = SqlExtractor(
        pg_url, table="public.orders", partition_on="order_id", partitions=4, engine=engine
    )
    slices = ex.slices()
    assert slices == [
        "order_id:(,251)",
        "order_id:[251,501)",
        "order_id:[501,751)",
        "order_id:[751,)",
    ]
    chunks = [c for s in slices for c in read_all(ex, s, 100)]
    got = frame_of(chunks)
    assert got.height == N and got.get_column("order_id").n_unique() == N
    # typed columns are kept (numeric as exact text)
    assert got.schema["order_id"] == pl.Int32
    assert got.schema["updated_at"] == pl.Datetime("us", "UTC")
    assert got.schema["amount"] == pl.String
    assert got.filter(pl.col("order_id") == 42).row(0, named=True)["amount"] == "52.50"
    assert all(c.frame.height <= 100 for c in chunks)
    labels = pl.concat([c.sources for c in chunks if c.frame.height])
    assert labels.head(2).to_list() == ["public.orders:order_id=1", "public.orders:order_id=2"]
    no_secret(
        slices,
        [c.position for c in chunks],
        labels.to_list(),
        [c.source for c in chunks],
        ex.describe(),
    )


@pytest.mark.postgres
def test_partition_on_a_timestamp_and_nulls_get_their_own_slice(pg_url: str) -> None:
    ex = SqlExtractor(pg_url, table="public.orders", partition_on="updated_at", partitions=3)
    slices = ex.slices()
    assert len(slices) == 3 and slices[0].startswith("updated_at:(,2024-01-01T")
    ids = frame_of([c for s in slices for c in read_all(ex, s, 64)]).get_column("order_id")
    assert sorted(ids.to_list()) == list(range(1, N + 1))
    events = SqlExtractor(pg_url, table="public.events", partition_on="customer_id", partitions=2)
    slices = events.slices()
    assert slices[-1] == "customer_id:null"
    got = frame_of([c for s in slices for c in read_all(events, s, 7)])
    assert sorted(got.get_column("seq").to_list()) == sorted(
        list(range(1, 301)) + list(range(1, 61))
    )


@pytest.mark.postgres
def test_resume_mid_partition_is_exact(pg_url: str) -> None:
    ex = SqlExtractor(pg_url, table="public.orders", partition_on="order_id", partitions=2)
    first = ex.slices()[1]
    chunks = read_all(ex, first, 37)
    full = frame_of(chunks)
    for k in (0, 3, len(chunks) - 2):
        state = json.loads(json.dumps(chunks[k].position))
        rest = read_all(ex, first, 37, state=state)
        assert_frame_equal(frame_of(chunks[: k + 1] + rest), full)
        assert rest[-1].position["records"] == full.height


@pytest.mark.postgres
def test_duplicate_keys_are_never_split_across_chunks(pg_url: str) -> None:
    ex = SqlExtractor(pg_url, table="public.events", partition_on="customer_id", key="customer_id")
    chunks = read_all(ex, "all", 25)
    full = frame_of(chunks)
    assert full.height == 300 - 6 + 60  # NULL customers are in the customer_id:null slice
    keys = [set(c.frame.get_column("customer_id").to_list()) for c in chunks if c.frame.height]
    for a, b in zip(keys, keys[1:], strict=False):
        assert not a & b
    assert max(c.frame.height for c in chunks) == 60  # one key alone outgrows the chunk
    for k in range(len(chunks) - 1):
        rest = read_all(ex, "all", 25, state=chunks[k].position)
        assert_frame_equal(frame_of(chunks[: k + 1] + rest), full)


@pytest.mark.postgres
def test_incremental_run_reads_only_new_rows(pg_url: str) -> None:
    ex = SqlExtractor(
        pg_url,
        table="public.orders",
        cursor_column="updated_at",
        partition_on="order_id",
        partitions=2,
        bounds=[500],
    )
    slices = ex.slices()
    assert slices == ["order_id:(,500)", "order_id:[500,)"]
    runs = {s: read_all(ex, s, 200) for s in slices}
    assert sum(frame_of(c).height for c in runs.values()) == N
    done = {s: c[-1].position for s, c in runs.items()}
    assert all(p["done"] for p in done.values())
    newest = BASE + dt.timedelta(minutes=N // 3)
    assert dt.datetime.fromisoformat(done["order_id:[500,)"]["cursor_max"]) == newest
    with psycopg.connect(pg_url, autocommit=True) as conn:
        later = newest + dt.timedelta(hours=1)
        conn.execute(
            "UPDATE public.orders SET status = 'paid', updated_at = %s WHERE order_id IN (7, 700)",
            (later,),
        )
        conn.execute("INSERT INTO public.orders VALUES (5000, 1, 1, 'new', %s, NULL)", (later,))
    second = {s: read_all(ex, s, 200, state=done[s]) for s in slices}
    assert sorted(frame_of(second["order_id:(,500)"]).get_column("order_id")) == [7]
    assert sorted(frame_of(second["order_id:[500,)"]).get_column("order_id")) == [700, 5000]
    third = [read_all(ex, s, 200, state=second[s][-1].position) for s in slices]
    assert all(frame_of(c).height == 0 and c[-1].position["done"] for c in third)


@pytest.mark.postgres
def test_cursor_alone_orders_by_it_and_resumes_through_ties(pg_url: str) -> None:
    ex = SqlExtractor(
        pg_url,
        query="SELECT order_id, updated_at FROM public.orders WHERE status = 'paid';",
        cursor_column="updated_at",
        key="order_id",
    )
    chunks = read_all(ex, "all", 50)
    full = frame_of(chunks)
    assert full.height == len([g for g in range(1, N + 1) if g % 3 == 1])
    for k in range(0, len(chunks) - 1, 2):
        rest = read_all(ex, "all", 50, state=chunks[k].position)
        assert_frame_equal(frame_of(chunks[: k + 1] + rest), full)
    assert chunks[0].sources[0].startswith("query:order_id=")


@pytest.mark.postgres
def test_password_never_shows_in_errors(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_table = SqlExtractor(pg_url, table="public.missing")
    with pytest.raises(ExtractError) as info:
        read_all(bad_table, "all", 10)
    text = "".join(traceback.format_exception(info.value))
    assert "missing" in str(info.value) and PASSWORD not in text + repr(info.value)
    refused = SqlExtractor(pg_url.replace(":5432/", ":1/"), table="public.orders")
    with pytest.raises(TransientExtractError) as info2:
        read_all(refused, "all", 10)
    text = "".join(traceback.format_exception(info2.value))
    assert "***" in str(info2.value) and PASSWORD not in text
    monkeypatch.setenv("WAREHOUSE_TEST_URL", pg_url.replace(":5432/", ":1/"))
    from_env = SqlExtractor(
        url_env="WAREHOUSE_TEST_URL", table="public.orders", partition_on="order_id", partitions=2
    )
    assert "$WAREHOUSE_TEST_URL" in from_env.describe()
    with pytest.raises(TransientExtractError) as info3:
        from_env.slices()
    assert PASSWORD not in "".join(traceback.format_exception(info3.value))
    monkeypatch.delenv("WAREHOUSE_TEST_URL")
    with pytest.raises(ConfigError, match="WAREHOUSE_TEST_URL is not set"):
        from_env.slices()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, amount REAL, "
        "status TEXT, updated_at TEXT)"
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [
            (
                i,
                i / 4,
                None if i % 9 == 0 else "s" + str(i % 3),
                f"2024-01-{1 + i // 50:02d} 00:00:{i % 60:02d}",
            )
            for i in range(1, 501)
        ],
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def test_sqlite_partitions_resume_and_increments(sqlite_url: str) -> None:
    ex = SqlExtractor(
        sqlite_url,
        table="orders",
        partition_on="order_id",
        partitions=3,
        cursor_column="updated_at",
    )
    slices = ex.slices()
    assert slices == ["order_id:(,167)", "order_id:[167,334)", "order_id:[334,)"]
    runs = {s: read_all(ex, s, 40) for s in slices}
    got = frame_of([c for cs in runs.values() for c in cs])
    assert sorted(got.get_column("order_id").to_list()) == list(range(1, 501))
    assert got.schema["amount"] == pl.Float64 and got.schema["order_id"] == pl.Int64
    middle = runs[slices[1]]
    rest = read_all(ex, slices[1], 40, state=json.loads(json.dumps(middle[1].position)))
    assert_frame_equal(frame_of(middle[:2] + rest), frame_of(middle))
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    conn.execute("UPDATE orders SET updated_at = '2024-12-31 00:00:00' WHERE order_id = 200")
    conn.commit()
    conn.close()
    again = {s: frame_of(read_all(ex, s, 40, state=runs[s][-1].position)) for s in slices}
    assert [a.height for a in again.values()] == [0, 1, 0]
    assert again[slices[1]].get_column("order_id").to_list() == [200]


def test_sqlite_table_without_order_reads_whole_and_reports_errors(
    sqlite_url: str, tmp_path: Path
) -> None:
    ex = SqlExtractor(sqlite_url, query="SELECT status, count(*) AS n FROM orders GROUP BY 1")
    chunks = read_all(ex, "all", 2)
    assert frame_of(chunks).get_column("n").sum() == 500
    assert chunks[0].sources.to_list() == ["query#0", "query#1"]
    with pytest.raises(ExtractError, match="no such column"):
        read_all(SqlExtractor(sqlite_url, query="SELECT nope FROM orders"), "all", 2)
    with pytest.raises(ExtractError, match="does not exist"):
        read_all(SqlExtractor(f"sqlite:///{tmp_path}/absent.db", table="t"), "all", 2)
    with pytest.raises(ConfigError):
        SqlExtractor(sqlite_url, table="orders", query="select 1")


@pytest.mark.postgres
def test_warehouse_orders_through_a_pipeline(
    pg_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polaretl as pe
    from contracts.warehouse_orders import WarehouseOrder

    monkeypatch.setenv("WAREHOUSE_URL", pg_url)
    pipeline = pe.Pipeline(
        "warehouse_orders",
        extractor=SqlExtractor(
            url_env="WAREHOUSE_URL",
            table="public.orders",
            partition_on="order_id",
            partitions=4,
            bounds=[250, 500, 750],
            cursor_column="updated_at",
        ),
        contract=WarehouseOrder,
        loader=pe.PostgresLoader("warehouse_orders", key="order_id", mode="upsert"),
        chunk_size=300,
    )
    first = pipeline.run(database_url=database_url)
    zero_customers = N // 37  # customer_id = order_id % 37 fails customer_id > 0
    assert (first.status, first.processed, first.valid, first.rejected) == (
        "succeeded",
        N,
        N - zero_customers,
        zero_customers,
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE public.orders SET status = 'shipped', updated_at = now() WHERE order_id = 7"
        )
        source_label = conn.execute(
            "SELECT _polaretl_source FROM warehouse_orders WHERE order_id = 42"
        ).fetchone()
        checkpoints = conn.execute("SELECT * FROM polaretl.checkpoints").fetchall()
        errors = conn.execute("SELECT coalesce(error, '') FROM polaretl.runs").fetchall()
    assert source_label == ("public.orders:order_id=42",)
    no_secret(checkpoints, errors)
    second = pipeline.run(database_url=database_url)
    assert (second.status, second.processed, second.loaded) == ("succeeded", 1, 1)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["auto", "psycopg"])
def test_an_empty_result_keeps_its_typed_columns(pg_url: str, engine: str) -> None:
    ex = SqlExtractor(pg_url, query="SELECT * FROM public.orders WHERE order_id < 0", engine=engine)
    chunks = read_all(ex, "all", 10)
    assert len(chunks) == 1 and chunks[0].position["done"]
    assert chunks[0].frame.schema == pl.Schema(
        {
            "order_id": pl.Int32,
            "customer_id": pl.Int32,
            "amount": pl.String,
            "status": pl.String,
            "updated_at": pl.Datetime("us", "UTC"),
            "note": pl.String,
        }
    )


def test_partition_boundaries_for_each_kind_of_column() -> None:
    from polaretl.extract.sql import _split

    assert _split(1, 100, 4) == [26, 51, 76]
    assert _split(0.0, 1.0, 4) == [0.25, 0.5, 0.75]
    assert _split(dt.date(2024, 1, 1), dt.date(2024, 1, 31), 3) == [
        dt.date(2024, 1, 11),
        dt.date(2024, 1, 21),
    ]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert _split(start, start + dt.timedelta(hours=4), 2) == [start + dt.timedelta(hours=2)]
    assert _split(5, 6, 4) == [6]  # no empty ranges
    with pytest.raises(ConfigError, match="numeric, date or timestamp"):
        _split("a", "z", 2)
