"""Every check kind, once each, on a real PostgreSQL: exact counts and exact error texts;
references checked against a table another pipeline loaded."""

import datetime as dt
import json

import pandera.polars as pa
import polars as pl
import pytest

import polaretl as pe
from tests.helpers import query
from tests.quality.conftest import write_csv


class Customer(pa.DataFrameModel):
    customer_id: int = pa.Field(unique=True)
    name: str


class Order(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    customer_id: int = pa.Field(metadata={"references": "customers.customer_id"})
    referrer_id: int = pa.Field(nullable=True, metadata={"references": "customers.customer_id"})
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "paid"])
    code: str = pa.Field(str_matches=r"^[A-Z]{3}-[0-9]+$")
    note: str = pa.Field(nullable=True, str_length={"max_value": 10})
    created_at: dt.datetime

    @pa.check("amount", name="whole_cents")
    def whole_cents(cls, data) -> pl.LazyFrame:  # noqa: N805 - pandera's signature
        return data.lazyframe.select(((pl.col(data.key) * 100).round(6) % 1) == 0)

    @pa.dataframe_check(name="paid_has_amount")
    def paid_has_amount(cls, data) -> pl.LazyFrame:  # noqa: N805
        return data.lazyframe.select(~((pl.col("status") == "paid") & (pl.col("amount") == 0)))


HEADER = "order_id,customer_id,referrer_id,amount,status,code,note,created_at"
GOOD = "{id},1,,10.5,new,ABC-1,ok,2026-01-02 03:04:05"
ROWS = [
    GOOD.format(id=1),  # line 2: valid
    "abc,1,,10.5,new,ABC-1,ok,2026-01-02 03:04:05",  # 3: dtype
    "3,1,,-1,new,ABC-1,ok,2026-01-02 03:04:05",  # 4: built-in range
    "4,1,,10.5,lost,ABC-1,ok,2026-01-02 03:04:05",  # 5: built-in set
    "5,1,,10.5,new,abc,ok,2026-01-02 03:04:05",  # 6: regex
    "6,1,,10.5,new,ABC-1,far too long a note,2026-01-02 03:04:05",  # 7: string length
    "7,1,,1.005,new,ABC-1,ok,2026-01-02 03:04:05",  # 8: custom column check
    "8,1,,0,paid,ABC-1,ok,2026-01-02 03:04:05",  # 9: dataframe check (per row)
    "9,42,,10.5,new,ABC-1,ok,2026-01-02 03:04:05",  # 10: reference
    "10,1,,10.5,new,ABC-1,ok,yesterday",  # 11: dtype (datetime)
    "11,,,10.5,new,ABC-1,ok,2026-01-02 03:04:05",  # 12: null not allowed
    "12,1,,10.5,new,ABC-1,ok,2026-01-02 03:04:05",  # 13: unique (with 14)
    "12,2,,10.5,new,ABC-1,ok,2026-01-02 03:04:05",  # 14: unique (with 13)
    "13,1,,10.5,new,ABC-1,ok",  # 15: malformed line
    "14,2,3,10.5,paid,XYZ-99,,2026-01-02 03:04:05",  # 16: valid, nullable reference set
    "15,2,77,10.5,paid,XYZ-99,,2026-01-02 03:04:05",  # 17: nullable reference unknown
]
EXPECTED = {
    3: ["column order_id: 'abc' is not an integer"],
    4: ["column amount: '-1.0' fails greater_than_or_equal_to(0)"],
    5: ["column status: 'lost' fails isin(['new', 'paid'])"],
    6: ["column code: 'abc' fails str_matches('^[A-Z]{3}-[0-9]+$')"],
    7: ["column note: 'far too long a note' fails str_length(None, 10)"],
    8: ["column amount: '1.005' fails whole_cents"],
    9: [
        'row {"order_id":8,"customer_id":1,"referrer_id":null,"amount":0.0,"status":"paid",'
        '"code":"ABC-1","note":"ok","created_at":"2026-01-02 03:04:05"} fails paid_has_amount'
    ],
    10: ["customer_id 42 not found in customers.customer_id"],
    11: [
        "column created_at: 'yesterday' is not a datetime in the format "
        "YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)"
    ],
    12: ["column customer_id: null is not allowed"],
    13: ["column order_id: '12' fails field_uniqueness"],
    14: ["column order_id: '12' fails field_uniqueness"],
    15: ["row 15: expected 8 fields, found 7"],
    17: ["referrer_id 77 not found in customers.customer_id"],
}
CHECKS = {
    3: ("order_id", "dtype('Int64')"),
    4: ("amount", "greater_than_or_equal_to(0)"),
    5: ("status", "isin(['new', 'paid'])"),
    6: ("code", "str_matches('^[A-Z]{3}-[0-9]+$')"),
    7: ("note", "str_length(None, 10)"),
    8: ("amount", "whole_cents"),
    9: (None, "paid_has_amount"),
    10: ("customer_id", "references(customers.customer_id)"),
    11: ("created_at", "dtype('Datetime(time_unit='us', time_zone=None)')"),
    12: ("customer_id", "not_nullable"),
    13: ("order_id", "field_uniqueness"),
    14: ("order_id", "field_uniqueness"),
    15: (None, "csv_format"),
    17: ("referrer_id", "references(customers.customer_id)"),
}


def customers_pipeline(folder):
    write_csv(folder / "customers.csv", "customer_id,name", [f"{i},c{i}" for i in range(1, 6)])
    return pe.Pipeline(
        "customers",
        extractor=pe.CsvExtractor(str(folder / "customers.csv")),
        contract=Customer,
        loader=pe.PostgresLoader("customers", key="customer_id", mode="upsert"),
    )


def orders_pipeline(folder):
    return pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(str(folder / "orders.csv")),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    )


def test_every_check_kind_once_exact_counts_and_texts(data_dir, database_url):
    customers_pipeline(data_dir).run(database_url=database_url)
    write_csv(data_dir / "orders.csv", HEADER, ROWS)
    result = orders_pipeline(data_dir).run(database_url=database_url)
    assert (result.processed, result.valid, result.rejected, result.loaded) == (16, 2, 14, 2)
    q = pe.quarantine("orders", database_url=database_url)
    lines = [int(s.rsplit(":", 1)[1]) for s in q["source"]]
    got = {
        line: [e["message"] for e in json.loads(errors)]
        for line, errors in zip(lines, q["errors"], strict=True)
    }
    assert got == EXPECTED
    checks = {
        line: (json.loads(errors)[0]["column"], json.loads(errors)[0]["check"])
        for line, errors in zip(lines, q["errors"], strict=True)
    }
    assert checks == CHECKS
    assert query(database_url, "SELECT order_id, referrer_id FROM orders ORDER BY 1") == [
        (1, None),
        (14, 3),
    ]
    # filters of the quarantine browser
    refs = pe.quarantine(
        "orders", check="references(customers.customer_id)", database_url=database_url
    )
    assert refs.height == 2
    assert pe.quarantine("orders", column="amount", database_url=database_url).height == 2


def test_a_row_failing_several_checks_lists_every_reason(data_dir, database_url):
    customers_pipeline(data_dir).run(database_url=database_url)
    write_csv(data_dir / "orders.csv", HEADER, ["1,42,,-1,lost,abc,ok,2026-01-02 03:04:05"])
    orders_pipeline(data_dir).run(database_url=database_url)
    errors = json.loads(pe.quarantine("orders", database_url=database_url)["errors"][0])
    assert [e["message"] for e in errors] == [
        "column amount: '-1.0' fails greater_than_or_equal_to(0)",
        "column status: 'lost' fails isin(['new', 'paid'])",
        "column code: 'abc' fails str_matches('^[A-Z]{3}-[0-9]+$')",
        "customer_id 42 not found in customers.customer_id",
    ]


def test_a_missing_referenced_table_fails_the_run_at_start(data_dir, database_url):
    write_csv(data_dir / "orders.csv", HEADER, [GOOD.format(id=1)])
    with pytest.raises(pe.RunFailedError, match="has no table customers") as info:
        orders_pipeline(data_dir).run(database_url=database_url)
    assert "Load it first" in str(info.value)
    assert query(database_url, "SELECT batches FROM polaretl.runs WHERE pipeline = 'orders'") == [
        (0,)
    ]


def test_a_missing_referenced_column_is_a_config_error(data_dir, database_url):
    query(database_url, "CREATE TABLE customers (id bigint)")
    write_csv(data_dir / "orders.csv", HEADER, [GOOD.format(id=1)])
    with pytest.raises(pe.RunFailedError, match="customers has no column customer_id"):
        orders_pipeline(data_dir).run(database_url=database_url)
