"""End to end on a real PostgreSQL: counts, reasons, idempotence, modes, locking."""

import json

import pandera.polars as pa
import polars as pl
import psycopg
import pytest

import polaretl as pe
from contracts.orders import Order
from tests.helpers import copy_example_orders, orders_csv, query


def orders_pipeline(folder, **loader):
    return pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(f"{folder}/*.csv", null_values=["", "NA"]),
        contract=Order,
        loader=pe.PostgresLoader("orders", **({"key": "order_id", "mode": "upsert"} | loader)),
    )


EXPECTED_REASONS = {
    ("orders_2026-11-01.csv:42", "column order_id: 'abc' is not an integer"),
    ("orders_2026-11-01.csv:43", "column amount: '-3.5' fails greater_than_or_equal_to(0)"),
    ("orders_2026-11-01.csv:44", "column status: 'lost' fails isin(['new', 'paid', 'shipped'])"),
    (
        "orders_2026-11-01.csv:45",
        "column created_at: 'yesterday' is not a datetime in the format "
        "YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)",
    ),
    ("orders_2026-11-01.csv:46", "column amount: null is not allowed"),
    ("orders_2026-11-01.csv:47", "column customer_id: '0' fails greater_than(0)"),
    ("orders_2026-11-01.csv:48", "row 48: expected 6 fields, found 5"),
    ("orders_2026-11-01.csv:50", "column status: 'PAID' fails isin(['new', 'paid', 'shipped'])"),
    ("orders_2026-11-02.csv:12", "column order_id: '60' fails field_uniqueness"),
    ("orders_2026-11-02.csv:32", "column order_id: '60' fails field_uniqueness"),
    ("orders_2026-11-02.csv:34", "row 34: expected 7 fields, found 6"),
}


def test_example_data_exact_counts_and_reasons(tmp_path, database_url):
    result = orders_pipeline(copy_example_orders(tmp_path)).run(database_url=database_url)
    assert (result.status, result.processed, result.valid, result.rejected, result.loaded) == (
        "succeeded",
        82,
        71,
        11,
        71,
    )
    q = pe.quarantine("orders", database_url=database_url)
    got = {
        (src.rsplit("/", 1)[1], msg)
        for src, errors in zip(q["source"], q["errors"], strict=True)
        for msg in [e["message"] for e in json.loads(errors)]
    }
    assert got == EXPECTED_REASONS
    assert set(q["run_id"]) == {result.run_id} and set(q["status"]) == {"pending"}
    # the raw record is the row as received, the extra column included
    dup = q.filter(pl.col("source").str.ends_with(":12"))["raw"][0]
    assert json.loads(dup)["channel"] == "shop" and json.loads(dup)["note"] == "NA"
    rows = query(
        database_url,
        "SELECT count(*), count(DISTINCT order_id), "
        "count(*) FILTER (WHERE note IS NULL) FROM orders",
    )
    assert rows == [(71, 71, 17)]  # "NA" and "" read as null per null_values
    lineage = query(
        database_url, "SELECT _polaretl_run_id, _polaretl_source FROM orders WHERE order_id = 48"
    )
    assert lineage[0][0] == result.run_id and lineage[0][1].endswith("orders_2026-11-01.csv:49")
    runs = pe.runs("orders", database_url=database_url)
    assert runs["status"].to_list() == ["succeeded"]
    timings = json.loads(runs["timings"][0])
    assert {"extract", "validate", "transform", "load", "record", "total"} <= set(timings)


def snapshot(url):
    return query(
        url,
        "SELECT order_id, customer_id, amount, status, created_at, note "
        "FROM orders ORDER BY order_id",
    )


def test_running_twice_changes_nothing_and_a_changed_row_is_updated(tmp_path, database_url):
    folder = copy_example_orders(tmp_path)
    pipeline = orders_pipeline(folder)
    first = pipeline.run(database_url=database_url)
    before = snapshot(database_url)
    again = pipeline.run(database_url=database_url)  # files unchanged: nothing to read
    assert (again.processed, again.loaded) == (0, 0)
    refresh = pipeline.run(database_url=database_url, full_refresh=True)
    assert refresh.loaded == 71 and refresh.metrics["written"] == 0  # identical rows kept
    assert snapshot(database_url) == before
    assert query(database_url, "SELECT DISTINCT _polaretl_run_id FROM orders") == [(first.run_id,)]
    # change two rows of one file: that file is re-read, exactly those rows rewritten
    path = folder / "orders_2026-11-02.csv"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("51,", "52,")):
            fields = line.split(",")
            fields[1] = "154"
            lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    changed = pipeline.run(database_url=database_url)
    assert changed.processed == 33 and changed.metrics["written"] == 1 + 1
    after = dict((r[0], r) for r in snapshot(database_url))
    assert after[52][1] == 154
    assert query(
        database_url,
        "SELECT order_id FROM orders WHERE _polaretl_run_id = %s ORDER BY 1",
        (changed.run_id,),
    ) == [(51,), (52,)]


def test_append_and_replace_modes(tmp_path, database_url):
    csv = orders_csv(tmp_path / "a.csv", 10)

    def make(mode):
        return pe.Pipeline(
            "p",
            extractor=pe.CsvExtractor(str(csv)),
            contract=Order,
            loader=pe.PostgresLoader("t", mode=mode),
        )

    make("append").run(database_url=database_url)
    make("append").run(database_url=database_url, full_refresh=True)
    assert query(database_url, "SELECT count(*) FROM t") == [(20,)]
    result = make("replace").run(database_url=database_url)
    assert result.loaded == 10
    assert query(database_url, "SELECT count(*) FROM t") == [(10,)]


class Numbers(pe.Extractor):
    """A whole new source in a few lines: only `read` is source-specific."""

    def read(self, slice, state, chunk_size):
        start = (state or {}).get("next", 0)
        for lo in range(start, 25, chunk_size):
            hi = min(lo + chunk_size, 25)
            frame = pl.DataFrame(
                {"n": [str(i) for i in range(lo, hi)], "label": [f"#{i}" for i in range(lo, hi)]}
            )
            yield pe.Chunk(frame, source=f"numbers[{lo}:{hi}]", position={"next": hi})


class Number(pa.DataFrameModel):
    n: int = pa.Field(lt=20)
    label: str


def test_a_custom_extractor_subclass_runs_with_checkpoints(database_url):
    pipeline = pe.Pipeline(
        "numbers",
        extractor=Numbers(),
        contract=Number,
        loader=pe.PostgresLoader("numbers", key="n", mode="upsert"),
        chunk_size=10,
    )
    result = pipeline.run(database_url=database_url)
    assert (result.processed, result.valid, result.rejected, result.batches) == (25, 20, 5, 3)
    assert query(database_url, "SELECT max(position->>'next') FROM polaretl.checkpoints") == [
        ("25",)
    ]
    again = pipeline.run(database_url=database_url)  # resumes after the last position
    assert again.processed == 0


def test_second_concurrent_run_is_refused_and_not_recorded(tmp_path, database_url):
    pipeline = orders_pipeline(copy_example_orders(tmp_path))
    pipeline.run(database_url=database_url)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('polaretl:run:orders', 0))")
        with pytest.raises(pe.RunLockedError, match="already running"):
            pipeline.run(database_url=database_url, full_refresh=True)
    assert query(database_url, "SELECT count(*) FROM polaretl.runs") == [(1,)]


def test_missing_contract_column_quarantines_the_file(tmp_path, database_url):
    csv = tmp_path / "m.csv"
    csv.write_text("order_id,customer_id,amount,created_at,note\n1,2,3.0,2026-01-01,x\n")
    result = orders_pipeline(tmp_path).run(database_url=database_url)
    assert (result.valid, result.rejected, result.loaded) == (0, 1, 0)
    errors = json.loads(pe.quarantine("orders", database_url=database_url)["errors"][0])
    assert errors[0]["message"] == "missing column status"


def test_a_database_constraint_fails_the_run_with_its_name(tmp_path, database_url):
    query(
        database_url,
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint, "
        "amount double precision CONSTRAINT small_amounts CHECK (amount < 50), status text, "
        "created_at timestamp, note text)",
    )
    csv = orders_csv(tmp_path / "c.csv", 200)
    with pytest.raises(pe.RunFailedError, match="small_amounts") as info:
        orders_pipeline(tmp_path).run(database_url=database_url)
    run_id = info.value.run_id
    status, error = query(
        database_url, "SELECT status, error FROM polaretl.runs WHERE run_id = %s", (run_id,)
    )[0]
    assert status == "failed" and "small_amounts" in error
    assert query(database_url, "SELECT count(*) FROM orders") == [(0,)]  # batch rolled back
    assert query(database_url, "SELECT count(*) FROM polaretl.checkpoints") == [(0,)]
    assert csv.exists()


def test_a_stale_running_run_is_marked_failed_by_the_next_run(tmp_path, database_url):
    pipeline = orders_pipeline(copy_example_orders(tmp_path))
    pipeline.run(database_url=database_url)
    query(database_url, "UPDATE polaretl.runs SET status = 'running'")
    pipeline.run(database_url=database_url)
    rows = query(
        database_url, "SELECT status, error IS NOT NULL FROM polaretl.runs ORDER BY run_id"
    )
    assert rows == [("failed", True), ("succeeded", False)]
