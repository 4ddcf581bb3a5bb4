"""Pruning unchanged upsert rows in Polars: the same answer as the database's compare."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from polaretl.load import prune
from tests.helpers import query

pytestmark = pytest.mark.postgres


@pytest.fixture
def target(database_url: str) -> str:
    query(
        database_url,
        "CREATE TABLE t (id bigint PRIMARY KEY, x float8, s text, d timestamp, b boolean)",
    )
    query(
        database_url,
        "INSERT INTO t VALUES (1, 0.1, 'a', '2026-01-01 00:00:00', true), "
        "(2, NULL, '', '2026-01-02 00:00:00.123456', NULL), (3, 1e300, 'c\nd', NULL, false)",
    )
    return database_url


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "id": pl.Int64,
            "x": pl.Float64,
            "s": pl.String,
            "d": pl.Datetime("us"),
            "b": pl.Boolean,
        },
        orient="row",
    )


SAME = [
    (1, 0.1, "a", dt.datetime(2026, 1, 1), True),
    (2, None, "", dt.datetime(2026, 1, 2, 0, 0, 0, 123456), None),
    (3, 1e300, "c\nd", None, False),
]


def test_unchanged_rows_are_dropped_and_changed_or_new_ones_kept(target: str) -> None:
    batch = frame(
        [
            *SAME,
            (2, None, None, dt.datetime(2026, 1, 2, 0, 0, 0, 123456), None),  # '' -> null
            (1, 0.1 + 1e-16, "a", dt.datetime(2026, 1, 1), True),  # the last bit differs
            (4, 1.0, "new", None, None),
        ]
    )
    changed = prune.changed_rows(target, "t", batch, batch.columns, "id", (1, 4))
    assert changed is not None
    assert changed["id"].to_list() == [2, 1, 4]


def test_types_that_do_not_cross_exactly_leave_it_to_the_database(target: str) -> None:
    batch = frame(SAME).with_columns(pl.col("d").dt.replace_time_zone("UTC"))
    assert prune.changed_rows(target, "t", batch, batch.columns, "id", (1, 3)) is None


def test_a_read_that_fails_leaves_it_to_the_database(target: str) -> None:
    batch = frame(SAME)
    assert prune.changed_rows(target, "missing", batch, batch.columns, "id", (1, 3)) is None
    assert prune.changed_rows(None, "t", batch, batch.columns, "id", (1, 3)) is None


def test_an_unchanged_rerun_stages_nothing(tmp_path, database_url, monkeypatch) -> None:
    import polaretl as pe
    from contracts.orders import Order
    from polaretl.load import postgres
    from tests.helpers import orders_csv

    path = orders_csv(tmp_path / "a.csv", 1000)

    def pipeline() -> pe.Pipeline:
        return pe.Pipeline(
            "orders",
            extractor=pe.CsvExtractor(str(path)),
            contract=Order,
            chunk_size=250,
            loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
        )

    first = pipeline().run(database_url=database_url)
    staged: list[int] = []
    original = postgres._copy
    monkeypatch.setattr(
        postgres, "_copy", lambda c, t, f: (staged.append(f.height), original(c, t, f))[1]
    )
    text = path.read_text().replace(",n500\n", ",changed\n")
    path.write_text(text)  # one row changed: the file is read again
    second = pipeline().run(database_url=database_url, full_refresh=True)
    assert (second.loaded, staged) == (1000, [1])  # only the changed row was staged
    assert query(
        database_url, "SELECT count(*) FROM orders WHERE _polaretl_run_id = %s", (first.run_id,)
    ) == [(999,)]
    assert query(database_url, "SELECT note FROM orders WHERE order_id = 500") == [("changed",)]
