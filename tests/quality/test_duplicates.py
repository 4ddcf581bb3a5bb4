"""A key repeated in a later batch of the same run, under both policies."""

import json
from pathlib import Path

import pandera.polars as pa
import pytest

import polaretl as pe
from tests.helpers import query
from tests.quality.conftest import write_csv


class Item(pa.DataFrameModel):
    item_id: int
    price: float


ROWS = ["1,1.0", "2,2.0", "3,3.0", "4,4.0", "5,5.0", "6,6.0", "2,20.0", "7,7.0"]  # 2 repeats


def pipeline(folder, name="items", **options):
    return pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(str(folder / "*.csv")),
        contract=Item,
        loader=pe.PostgresLoader(name, key="item_id", mode="upsert"),
        chunk_size=3,  # batches: [1 2 3] [4 5 6] [2 7]
        **options,
    )


@pytest.fixture
def database_url(module_database_url):
    return module_database_url  # each test has a pipeline and table of its own


def test_last_wins_by_default_and_the_repeat_is_counted(data_dir, database_url, name):
    write_csv(data_dir / "items.csv", "item_id,price", ROWS)
    result = pipeline(data_dir, name).run(database_url=database_url)
    assert (result.processed, result.valid, result.rejected, result.loaded) == (8, 8, 0, 8)
    assert result.metrics["run_duplicates"] == 1
    assert (
        "duplicates_quarantined" not in result.metrics
        or not result.metrics["duplicates_quarantined"]
    )
    assert query(database_url, f"SELECT price FROM {name} WHERE item_id = 2") == [(20.0,)]
    assert query(database_url, f"SELECT count(*) FROM {name}") == [(7,)]


def test_quarantine_policy_keeps_the_first_copy_and_quarantines_the_repeat(
    data_dir, database_url, name
):
    path = write_csv(data_dir / "items.csv", "item_id,price", ROWS)
    result = pipeline(data_dir, name, on_duplicate="quarantine").run(database_url=database_url)
    assert (result.processed, result.valid, result.rejected, result.loaded) == (8, 7, 1, 7)
    assert (result.metrics["run_duplicates"], result.metrics["duplicates_quarantined"]) == (1, 1)
    assert query(database_url, f"SELECT price FROM {name} WHERE item_id = 2") == [(2.0,)]
    q = pe.quarantine(name, database_url=database_url)
    assert q["source"].to_list() == [f"{path}:8"]
    assert json.loads(q["raw"][0]) == {"item_id": "2", "price": "20.0"}  # as received
    assert json.loads(q["errors"][0]) == [
        {
            "column": "item_id",
            "check": "run_uniqueness",
            "value": "2",
            "message": "item_id 2 was already loaded earlier in this run",
        }
    ]
    # a new run may load key 2 again: the policy is per run
    again = pipeline(data_dir, name, on_duplicate="quarantine").run(
        database_url=database_url, full_refresh=True
    )
    assert (again.valid, again.rejected) == (7, 1)
    claimed = "SELECT count(*) FROM polaretl.run_keys WHERE run_id = %s"
    assert query(database_url, claimed, (again.run_id,)) == [(7,)]
    assert query(database_url, claimed, (again.run_id - 1,)) == [(0,)]  # finished: forgotten


def test_quarantine_policy_catches_repeats_in_one_batch_and_across_slices(
    data_dir, database_url, name
):
    write_csv(data_dir / "a.csv", "item_id,price", ["1,1.0", "1,1.5", "2,2.0"])
    write_csv(data_dir / "b.csv", "item_id,price", ["2,2.5", "3,3.0"])
    result = pipeline(data_dir, name, on_duplicate="quarantine").run(database_url=database_url)
    assert (result.valid, result.rejected, result.loaded) == (3, 2, 3)
    assert query(database_url, f"SELECT item_id, price FROM {name} ORDER BY 1") == [
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
    ]
    assert result.metrics["run_duplicates"] == 1  # 2 came again in another slice
    assert result.metrics["duplicates_quarantined"] == 2


def test_an_unchanged_first_copy_still_counts_under_quarantine(data_dir, database_url, name):
    write_csv(data_dir / "items.csv", "item_id,price", ["1,1.0", "2,2.0"])
    pipeline(data_dir, name, on_duplicate="quarantine").run(database_url=database_url)
    # the next run's first copy of 2 is identical (not rewritten, keeps the old run id)
    write_csv(data_dir / "items.csv", "item_id,price", ["2,2.0", "3,3.0", "4,4.0", "2,9.0"])
    result = pipeline(data_dir, name, on_duplicate="quarantine").run(database_url=database_url)
    assert (result.valid, result.rejected) == (3, 1)
    assert query(database_url, f"SELECT price FROM {name} WHERE item_id = 2") == [(2.0,)]


def test_on_duplicate_is_checked():
    with pytest.raises(pe.ConfigError, match="on_duplicate='sometimes' is unknown"):
        pipeline(Path("."), on_duplicate="sometimes")
    with pytest.raises(pe.ConfigError, match="needs a key"):
        pe.Pipeline(
            "x",
            extractor=pe.CsvExtractor("x.csv"),
            loader=pe.PostgresLoader("x"),
            on_duplicate="quarantine",
        )
