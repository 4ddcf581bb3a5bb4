"""The quarantine lifecycle on a real PostgreSQL: export, correct, replay, discard, and
the lineage a replay leaves."""

import datetime as dt
import json

import pandera.polars as pa
import polars as pl
import psycopg
import pytest

import polaretl as pe
from polaretl import api
from polaretl.quality import corrections
from polaretl.quality.report import lines, run_quality
from tests.helpers import query
from tests.quality.conftest import write_csv


class Order(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "paid"])
    created_at: dt.datetime


HEADER = "order_id,amount,status,created_at"
ROWS = [
    "1,10.0,new,2026-01-01 00:00:00",
    "2,-5,new,2026-01-01 00:00:00",  # line 3: negative amount
    "3,7.5,lost,2026-01-01 00:00:00",  # line 4: unknown status
    "4,x,new,2026-01-01 00:00:00",  # line 5: amount not a number
    "5,8.0,new,2026-01-01 00:00:00",
]


def pipeline(folder):
    return pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(str(folder / "*.csv"), null_values=["", "NA"]),
        contract=Order,
        transforms=[lambda lf: lf.with_columns(pl.col("status").str.to_uppercase())],
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    )


def snapshot(url):
    return query(
        url,
        "SELECT order_id, amount, status, _polaretl_run_id, _polaretl_source, "
        "_polaretl_loaded_at FROM orders ORDER BY 1",
    )


def records(url):
    return query(
        url,
        "SELECT id, status, replay_run_id, errors, updated_at FROM polaretl.quarantine ORDER BY id",
    )


def test_export_fix_two_of_three_replay_twice(data_dir, tmp_path, database_url):
    write_csv(data_dir / "orders.csv", HEADER, ROWS)
    pipe = pipeline(data_dir)
    first = pipe.run(database_url=database_url)
    assert (first.valid, first.rejected) == (2, 3)

    exported = corrections.write(
        api.quarantine("orders", fields=True, database_url=database_url), tmp_path / "fix.csv"
    )
    edited = pl.read_csv(exported, infer_schema=False)
    assert edited.columns == [
        "_quarantine_id", "order_id", "amount", "status", "created_at", "_quarantine_raw",
        "_quarantine_errors", "_quarantine_source", "_quarantine_run_id",
    ]  # fmt: skip
    assert edited["order_id"].to_list() == ["2", "3", "4"]
    edited = edited.with_columns(
        amount=pl.when(pl.col("order_id") == "2").then(pl.lit("5")).otherwise("amount"),
        status=pl.when(pl.col("order_id") == "3").then(pl.lit("paid")).otherwise("status"),
    )  # order 4 is left as it was: still invalid
    edited.write_csv(exported)

    result = api.replay(pipe, file=exported, database_url=database_url)
    assert (result.pipeline, result.status) == ("orders:replay", "succeeded")
    assert (result.processed, result.valid, result.rejected, result.loaded) == (3, 2, 1, 2)
    assert result.metrics["replayed"] == 2 and result.metrics["still_pending"] == 1
    ids = dict(query(database_url, "SELECT raw->>'order_id', id FROM polaretl.quarantine"))
    assert query(
        database_url,
        "SELECT order_id, amount, status, _polaretl_source FROM orders "
        "WHERE order_id IN (2, 3) ORDER BY 1",
    ) == [
        (2, 5.0, "NEW", f"quarantine:{ids['2']}"),  # through the transforms too
        (3, 7.5, "PAID", f"quarantine:{ids['3']}"),
    ]
    states = {r[0]: r[1:3] for r in records(database_url)}
    assert states == {
        ids["2"]: ("replayed", result.run_id),
        ids["3"]: ("replayed", result.run_id),
        ids["4"]: ("pending", None),
    }
    pending = api.quarantine("orders", database_url=database_url)
    assert [e["message"] for e in json.loads(pending["errors"][0])] == [
        "column amount: 'x' is not a number"
    ]
    # raw is kept as received; the correction is stored beside it
    raw, fixed = query(
        database_url, "SELECT raw, corrected FROM polaretl.quarantine WHERE id = %s", (ids["2"],)
    )[0]
    assert (raw["amount"], fixed["amount"]) == ("-5", "5")
    unchanged = "SELECT corrected FROM polaretl.quarantine WHERE id = %s"
    assert query(database_url, unchanged, (ids["4"],)) == [(None,)]  # left as it was

    with psycopg.connect(database_url, autocommit=True) as conn:
        shown = run_quality(conn, result.run_id)
    assert shown["replay"] == {
        "replayed": 2,
        "still_pending": 1,
        "needs_correction": 0,
        "skipped": 0,
    }
    assert lines(shown) == ["replayed 2 record(s); still pending 1, need a correction 0, skipped 0"]

    before_rows, before_records = snapshot(database_url), records(database_url)
    again = api.replay(pipe, file=exported, database_url=database_url)
    assert (again.processed, again.loaded, again.rejected) == (1, 0, 1)
    assert snapshot(database_url) == before_rows
    assert records(database_url) == before_records  # not even updated_at moved

    # lineage of a replayed row: the replay run, then the quarantine record it came from
    steps = api.lineage("orders", 2, database_url=database_url)
    assert steps["step"].to_list() == ["loaded", "quarantined"]
    assert steps["run_id"].to_list() == [result.run_id, first.run_id]
    assert steps["pipeline"].to_list() == ["orders:replay", "orders"]
    assert steps["source"][1].endswith("orders.csv:3") and steps["position"][1] == "3"
    assert steps["quarantine_id"].to_list() == [ids["2"], ids["2"]]
    assert "greater_than_or_equal_to(0)" in steps["errors"][1]
    plain = api.lineage(pipe, 1, database_url=database_url)
    assert plain.select("step", "run_id", "position").rows() == [("loaded", first.run_id, "2")]


def test_replay_from_the_database_and_discard(data_dir, database_url):
    write_csv(data_dir / "orders.csv", HEADER, ROWS)
    pipe = pipeline(data_dir)
    pipe.run(database_url=database_url)
    # corrected in the database: nothing to export
    query(
        database_url,
        'UPDATE polaretl.quarantine SET corrected = raw || \'{"status": "new"}\' '
        "WHERE raw->>'order_id' = '3'",
    )
    other_run = api.replay(pipe, run_id=12345, database_url=database_url)  # --run filter
    assert other_run.processed == 0
    result = api.replay(pipe, database_url=database_url)
    assert (result.processed, result.loaded) == (3, 1)
    left = api.quarantine("orders", database_url=database_url)
    assert left.height == 2
    n = api.discard(
        "orders", ids=left["id"].to_list(), reason="test rows", database_url=database_url
    )
    assert n == 2
    assert query(
        database_url,
        "SELECT status, discard_reason, count(*) FROM polaretl.quarantine GROUP BY 1, 2 ORDER BY 1",
    ) == [("discarded", "test rows", 2), ("replayed", None, 1)]
    assert (
        api.discard("orders", ids=left["id"].to_list(), reason="x", database_url=database_url) == 0
    )
    with pytest.raises(pe.ConfigError, match="needs a reason"):
        api.discard("orders", ids=[1], reason=" ", database_url=database_url)
    nothing = api.replay(pipe, database_url=database_url)
    assert (nothing.status, nothing.processed) == ("succeeded", 0)
    with pytest.raises(pe.RecordError, match="No row of orders has order_id = '4'"):
        api.lineage("orders", "4", database_url=database_url)  # never loaded


def test_an_unparsed_record_is_corrected_in_the_export(data_dir, tmp_path, database_url):
    write_csv(data_dir / "orders.csv", HEADER, ["1,10.0,new,2026-01-01 00:00:00", "2,3.0,new"])
    pipe = pipeline(data_dir)
    pipe.run(database_url=database_url)
    plain = api.replay(pipe, database_url=database_url)  # nothing to run without fields
    assert (plain.processed, plain.metrics["needs_correction"]) == (0, 1)
    frame = api.quarantine("orders", fields=True, database_url=database_url)
    assert frame["_quarantine_raw"].to_list() == ["2,3.0,new"]
    assert frame.select("order_id", "amount", "status", "created_at").row(0) == (None,) * 4
    fixed = frame.with_columns(
        order_id=pl.lit("2"), amount=pl.lit("3.0"), status=pl.lit("new"),
        created_at=pl.lit("2026-01-01 00:00:00"),
    )  # fmt: skip
    path = corrections.write(fixed, tmp_path / "fix.parquet", "parquet")
    result = api.replay(pipe, file=path, database_url=database_url)
    assert result.loaded == 1
    assert query(database_url, "SELECT count(*) FROM orders") == [(2,)]


def test_replay_holds_the_pipeline_lock(data_dir, database_url):
    write_csv(data_dir / "orders.csv", HEADER, ROWS)
    pipe = pipeline(data_dir)
    pipe.run(database_url=database_url)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('polaretl:run:orders', 0))")
        with pytest.raises(pe.RunLockedError):
            api.replay(pipe, database_url=database_url)
    query(
        database_url,
        "INSERT INTO polaretl.runs (pipeline, status, executor) "
        "VALUES ('orders', 'running', 'celery')",
    )  # a live Celery run
    with pytest.raises(pe.RunLockedError):
        api.replay(pipe, database_url=database_url)
    assert query(
        database_url, "SELECT count(*) FROM polaretl.runs WHERE pipeline LIKE '%:replay'"
    ) == [(0,)]


def test_a_failing_replay_is_recorded_and_commits_nothing(data_dir, database_url):
    write_csv(data_dir / "orders.csv", HEADER, ROWS)
    pipe = pipeline(data_dir)
    pipe.run(database_url=database_url)
    query(database_url, 'UPDATE polaretl.quarantine SET corrected = raw || \'{"amount": "1"}\'')
    query(database_url, "ALTER TABLE orders ADD CONSTRAINT no_one CHECK (amount > 5) NOT VALID")
    with pytest.raises(pe.RunFailedError, match="no_one") as info:
        api.replay(pipe, database_url=database_url)
    assert query(
        database_url,
        "SELECT pipeline, status FROM polaretl.runs WHERE run_id = %s",
        (info.value.run_id,),
    ) == [("orders:replay", "failed")]
    assert query(database_url, "SELECT DISTINCT status FROM polaretl.quarantine") == [("pending",)]
