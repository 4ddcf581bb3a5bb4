"""Values loaded exactly or quarantined, end to end on a real PostgreSQL: the rows in the
target, the quarantine records and their messages, the run's counts (issue 14, items 1-4,
9 and 10 for NDJSON)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import pandera.polars as pa
import polars as pl

import polaretl as pe
import polaretl.alerts as al
from tests.helpers import query
from tests.quality.conftest import write_csv


def counts(result):
    return result.status, result.processed, result.valid, result.rejected, result.loaded


def quarantined(url: str, name: str) -> list[tuple[str, list[str]]]:
    q = pe.quarantine(name, database_url=url).sort("id")
    return [
        (source.rsplit("/", 1)[-1], [e["message"] for e in json.loads(errors)])
        for source, errors in zip(q["source"], q["errors"], strict=True)
    ]


class Payment(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    amount: Annotated[pl.Decimal, 12, 2]
    day: dt.date
    at: dt.datetime
    rate: float = pa.Field(ge=0)


def test_decimals_dates_and_floats_load_exactly_or_are_quarantined(
    data_dir, module_database_url, name
):
    rows = [
        "1,1.999,2024-05-06,2013-02-12T12:00:00Z,0.5",  # 2: 3 places
        "2,0.005,24-01-02,2013-02-12 12:00:00,0.5",  # 3: 3 places, not ISO
        "3,123.456,2024-01-02,2013-02-12T14:00:00+02:00,NaN",  # 4: 3 places, NaN
        "4,1.500,2024-05-06,2013-02-12 12:00:00,1e400",  # 5: overflow
        "5,10.50,2024-01-02,2013-02-12T12:00:00.5Z,2.5",  # 6: valid
        "6,1.50,02/01/2024,2013-02-12 12:00:00,0",  # 7: not ISO
        "7,99999999999,2024-01-02,2013-02-12 12:00,inf",  # 8: 11 digits, inf
        "8,1.500,2024-02-29,2013-02-12T07:00-05:00,0",  # 9: valid (1.50 exactly)
    ]
    write_csv(data_dir / "p.csv", "id,amount,day,at,rate", rows)
    pipe = pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(str(data_dir / "p.csv")),
        contract=Payment,
        loader=pe.PostgresLoader(name, key="id"),
        chunk_size=3,
    )
    result = pipe.run(database_url=module_database_url)
    assert counts(result) == ("succeeded", 8, 2, 6, 2)
    loaded = f"SELECT id, amount::text, day, at, rate FROM {name} ORDER BY id"
    assert query(module_database_url, loaded) == [
        (5, "10.50", dt.date(2024, 1, 2), dt.datetime(2013, 2, 12, 12, 0, 0, 500000), 2.5),
        (8, "1.50", dt.date(2024, 2, 29), dt.datetime(2013, 2, 12, 12), 0.0),
    ]
    finite = (
        "is not a finite number; a float field takes NaN and infinities only with "
        "metadata={'allow_non_finite': True}"
    )
    iso_date = "is not a date in the format YYYY-MM-DD (ISO 8601)"
    assert quarantined(module_database_url, name) == [
        ("p.csv:2", ["column amount: '1.999' has 3 decimal places; the contract allows 2"]),
        (
            "p.csv:3",
            [
                "column amount: '0.005' has 3 decimal places; the contract allows 2",
                f"column day: '24-01-02' {iso_date}",
            ],
        ),
        (
            "p.csv:4",
            [
                "column amount: '123.456' has 3 decimal places; the contract allows 2",
                f"column rate: 'NaN' {finite}",
            ],
        ),
        ("p.csv:5", ["column rate: '1e400' is too large for Float64 (it would load as infinity)"]),
        ("p.csv:7", [f"column day: '02/01/2024' {iso_date}"]),
        (
            "p.csv:8",
            [
                "column amount: '99999999999' has 11 digits before the decimal point; the "
                "contract allows 10 (Decimal(precision=12, scale=2))",
                f"column rate: 'inf' {finite}",
            ],
        ),
    ]


class Person(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    name: str
    email: Optional[str]  # noqa: UP045 - Pandera reads Optional as "may be absent"


def test_an_absent_optional_column_loads_null_and_is_recorded_as_drift(
    data_dir, module_database_url, name
):
    url = module_database_url
    pipe = pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(str(data_dir / "*.csv")),
        contract=Person,
        loader=pe.PostgresLoader(name, key="id", mode="upsert"),
        alerts=[al.SchemaChange(cooldown=0, channels=[al.Log()])],
    )
    write_csv(data_dir / "a.csv", "id,name,email", ["1,Ada,ada@example.org"])
    first = pipe.run(database_url=url)
    assert counts(first) == ("succeeded", 1, 1, 0, 1)
    write_csv(data_dir / "b.csv", "id,name", ["2,Grace", "3,Lin"])  # the provider dropped it
    second = pipe.run(database_url=url)
    assert counts(second) == ("succeeded", 2, 2, 0, 2)
    assert query(url, f"SELECT id, name, email FROM {name} ORDER BY id") == [
        (1, "Ada", "ada@example.org"),
        (2, "Grace", None),
        (3, "Lin", None),
    ]
    assert pe.quarantine(name, database_url=url).height == 0
    (change,) = query(
        url,
        "SELECT version, run_id, removed FROM polaretl.schema_versions "
        "WHERE pipeline = %s AND version > 1",
        (name,),
    )
    assert change == (2, second.run_id, [{"column": "email", "type": "text", "required": False}])
    alerts = query(url, "SELECT rule, run_id FROM polaretl.alerts WHERE pipeline = %s", (name,))
    assert alerts == [("SchemaChange()", second.run_id)]


def test_a_table_made_from_a_source_without_the_optional_column_still_has_it(
    data_dir, module_database_url, name
):
    write_csv(data_dir / "a.csv", "id,name", ["1,Ada"])
    pipe = pe.Pipeline(
        name,
        extractor=pe.CsvExtractor(str(data_dir / "a.csv")),
        contract=Person,
        loader=pe.PostgresLoader(name, key="id"),
    )
    assert counts(pipe.run(database_url=module_database_url)) == ("succeeded", 1, 1, 0, 1)
    columns = query(
        module_database_url,
        "SELECT column_name, is_nullable FROM information_schema.columns "
        "WHERE table_name = %s AND column_name IN ('name', 'email') ORDER BY 1",
        (name,),
    )
    assert columns == [("email", "YES"), ("name", "NO")]
    write_csv(data_dir / "a.csv", "email,id", ["x@example.org,2"])  # a required one absent
    result = pipe.run(database_url=module_database_url)
    assert counts(result) == ("succeeded", 1, 0, 1, 0)
    assert quarantined(module_database_url, name) == [("a.csv:2", ["missing column name"])]


class Event(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    name: str
    amount: str
    # a JSON key a line leaves out: may be absent from a whole chunk, null in a line
    price: Optional[Annotated[pl.Decimal, 38, 9]] = pa.Field(nullable=True)  # noqa: UP045


def test_ndjson_numbers_as_received_nested_values_nul_and_surrogates_quarantined(
    tmp_path: Path, module_database_url, name
):
    lines = [
        r'{"id": 1, "name": "Ada", "amount": 10.50, "price": 10.50}',
        r'{"id": 2, "name": "Bob", "amount": 12345678901234567890.123456789, "price": '
        r"12345678901234567890.123456789}",
        r'{"id": 3, "name": "Cy", "amount": 1e400}',
        r'{"id": 4, "name": {"first": "Grace"}, "amount": 1}',
        r'{"id": 5, "name": "\ud800", "amount": 2}',
        r'{"id": 6, "name": "a\u0000b", "amount": 3}',
        r'{"id": 7, "name": "\ud83d\ude00", "amount": [1.50, 2]}',
    ]
    path = tmp_path / "e.ndjson"
    path.write_text("\n".join(lines) + "\n")
    pipe = pe.Pipeline(
        name,
        extractor=pe.NdjsonExtractor(str(path)),
        contract=Event,
        loader=pe.PostgresLoader(name, key="id"),
        chunk_size=3,
    )
    result = pipe.run(database_url=module_database_url)
    assert counts(result) == ("succeeded", 7, 4, 3, 4)
    assert query(module_database_url, f"SELECT id, name, amount, price::text FROM {name}") == [
        (1, "Ada", "10.50", "10.500000000"),
        (2, "Bob", "12345678901234567890.123456789", "12345678901234567890.123456789"),
        (3, "Cy", "1e400", None),
        (7, "\U0001f600", "[1.50,2]", None),
    ]
    q = pe.quarantine(name, database_url=module_database_url)
    q = q.sort(q["source"].str.extract(r"line (\d+)$").cast(pl.Int64))
    assert [s.rsplit("/", 1)[-1] for s in q["source"]] == [
        "e.ndjson:line 4",
        "e.ndjson:line 5",
        "e.ndjson:line 6",
    ]
    errors = [json.loads(e)[0] for e in q["errors"]]
    assert [(e["column"], e["check"]) for e in errors] == [
        ("name", "nested_value"),
        (None, "lone_surrogate"),
        (None, "nul_byte"),
    ]
    assert errors[0]["message"] == (
        "column name: the source holds an object here (flattened into name<separator><key> "
        "columns), not a single value"
    )
    # the lines that cannot become text are kept as received: their escapes are ASCII
    assert [json.loads(r) for r in q["raw"][1:]] == [lines[4], lines[5]]
