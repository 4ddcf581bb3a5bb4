"""Schema drift on real runs: each change recorded once, with the right classification."""

import json

import pandera.polars as pa
import psycopg
import pytest

import polaretl as pe
from polaretl import api
from polaretl.quality.report import lines, run_quality
from tests.helpers import query
from tests.quality.conftest import write_csv


class Item(pa.DataFrameModel):
    item_id: int = pa.Field(unique=True)
    customer_id: int
    price: float


BASE = {
    "item_id": [str(i) for i in range(1, 7)],
    "customer_id": ["1", "2", "3", "1", "2", "3"],
    "price": ["1.5", "2.5", "3.5", "4.5", "5.5", "6.5"],
    "channel": ["web", "shop", "web", "web", "shop", "web"],
    "size": ["1", "2", "3", "1", "2", "3"],
}


def write(folder, name, columns, start=0):
    names = list(columns)
    rows = [",".join(str(columns[n][i]) for n in names) for i in range(len(columns[names[0]]))]
    if start:  # other item ids, same values elsewhere
        rows = [f"{int(r.split(',', 1)[0]) + start},{r.split(',', 1)[1]}" for r in rows]
    return write_csv(folder / name, ",".join(names), rows)


def pipeline(folder, name):
    return pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(str(folder / "*.csv")),
        contract=Item,
        loader=pe.PostgresLoader(name, key="item_id", mode="upsert"),
    )


def versions(url, name):
    return query(
        url,
        "SELECT version, run_id, source, added, removed, retyped, renamed "
        "FROM polaretl.schema_versions WHERE pipeline = %s ORDER BY version",
        (name,),
    )


def changed(columns):
    """BASE with one change applied by the scenario."""
    return {**BASE, **columns}


def without(name, extra=None):
    out = {k: v for k, v in BASE.items() if k != name}
    return {**out, **(extra or {})}


SCENARIOS = {
    "added": (
        changed({"coupon": ["A", "B", "C", "A", "B", "C"]}),
        {"added": [{"column": "coupon", "type": "text", "in_contract": False}]},
        0,
    ),
    "removed_optional": (
        without("channel"),
        {"removed": [{"column": "channel", "type": "text", "required": False}]},
        0,
    ),
    "removed_required": (
        without("price"),
        {"removed": [{"column": "price", "type": "float", "required": True}]},
        6,
    ),
    "retyped": (
        changed({"size": ["S", "M", "L", "S", "M", "L"]}),
        {"retyped": [{"column": "size", "from": "integer", "to": "text", "required": False}]},
        0,
    ),
    "renamed": (
        without("customer_id", {"cust_id": BASE["customer_id"]}),
        {
            "renamed": [
                {
                    "from": "customer_id",
                    "to": "cust_id",
                    "type": "integer",
                    "overlap": 1.0,
                    "required": True,
                }
            ]
        },
        6,
    ),
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_each_drift_is_recorded_once_with_its_classification(
    kind, data_dir, module_database_url, name
):
    database_url = module_database_url
    columns, expected, rejected = SCENARIOS[kind]
    pipe = pipeline(data_dir, name)
    first = pipe.run(database_url=database_url)
    write(data_dir, "b.csv", columns, start=100)
    second = pipe.run(database_url=database_url)
    write(data_dir, "c.csv", columns, start=200)  # the same new shape again: no new version
    third = pipe.run(database_url=database_url)
    assert (second.rejected, third.rejected) == (rejected, rejected)
    rows = versions(database_url, name)
    assert [(r[0], r[1]) for r in rows] == [(1, first.run_id), (2, second.run_id)]
    assert rows[1][2].endswith("b.csv")
    changes = dict(zip(("added", "removed", "retyped", "renamed"), rows[1][3:], strict=True))
    assert changes == {"added": [], "removed": [], "retyped": [], "renamed": []} | expected
    assert rows[0][3:] == ([], [], [], [])  # the first version is the baseline
    if rejected:  # a required column gone: the rows are quarantined with that reason
        missing = "price" if kind == "removed_required" else "customer_id"
        errors = pe.quarantine(name, run_id=second.run_id, database_url=database_url)["errors"]
        assert {e["message"] for e in json.loads(errors[0])} == {f"missing column {missing}"}


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder, "a.csv", BASE)
    return folder


def test_values_that_still_fit_are_not_a_retype(data_dir, module_database_url, name):
    database_url = module_database_url
    pipe = pipeline(data_dir, name)
    pipe.run(database_url=database_url)
    write(data_dir, "b.csv", changed({"price": ["1", "2", "3", "4", "5", "6"]}), start=100)
    write(data_dir, "c.csv", changed({"size": ["", "", "", "", "", ""]}), start=200)
    pipe.run(database_url=database_url)
    assert len(versions(database_url, name)) == 1


def test_schema_history_and_show(data_dir, module_database_url, name):
    database_url = module_database_url
    pipe = pipeline(data_dir, name)
    pipe.run(database_url=database_url)
    write(data_dir, "b.csv", changed({"coupon": ["A"] * 6}), start=100)
    second = pipe.run(database_url=database_url)
    history = api.schema_history(name, database_url=database_url)
    assert history["version"].to_list() == [1, 2]
    assert history["columns"][1] == (
        "item_id:integer, customer_id:integer, price:float, channel:text, size:integer, coupon:text"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        shown = lines(run_quality(conn, second.run_id))
    assert shown[0].startswith("schema v2 (") and shown[0].endswith("b.csv): added coupon (text)")
