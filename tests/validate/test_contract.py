"""The contract split: casts, Pandera checks, missing and extra columns, raw records."""

import datetime as dt
import json

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polaretl.errors import ConfigError, ContractError
from polaretl.extract.base import Chunk
from polaretl.validate.contract import ContractValidator


class Order(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "paid"])
    created_at: dt.datetime
    note: str = pa.Field(nullable=True)


def chunk(rows: list[dict], null_values=("",)) -> Chunk:
    return Chunk(
        pl.DataFrame(rows, schema={k: pl.String for k in rows[0]}),
        source="t.csv",
        position={},
        null_values=null_values,
    )


GOOD = {
    "order_id": "1",
    "amount": "2.50",
    "status": "new",
    "created_at": "2026-01-02 03:04:05",
    "note": "x",
}


def messages(split) -> list[list[str]]:
    return [[e["message"] for e in json.loads(r)] for r in split.quarantined["errors"]]


def test_valid_rows_are_typed_and_labelled():
    split = ContractValidator(Order).split(chunk([GOOD]))
    assert split.quarantined.height == 0
    assert split.valid.to_dicts() == [
        {
            "order_id": 1,
            "amount": 2.5,
            "status": "new",
            "created_at": dt.datetime(2026, 1, 2, 3, 4, 5),
            "note": "x",
            "_polaretl_source": "t.csv",
        }
    ]


def test_bad_values_are_caught_not_passed_in_silence():
    # Pandera on a LazyFrame would only check the schema; these must all be caught.
    rows = [
        GOOD,
        {**GOOD, "order_id": "2", "amount": "-1"},
        {**GOOD, "order_id": "3", "status": "lost"},
        {**GOOD, "order_id": "abc"},
        {**GOOD, "order_id": "5", "created_at": "tuesday"},
        {**GOOD, "order_id": "6", "amount": ""},
    ]
    split = ContractValidator(Order).split(chunk(rows))
    assert split.valid["order_id"].to_list() == [1]
    assert messages(split) == [
        ["column amount: '-1.0' fails greater_than_or_equal_to(0)"],
        ["column status: 'lost' fails isin(['new', 'paid'])"],
        ["column order_id: 'abc' is not an integer"],
        [
            "column created_at: 'tuesday' is not a datetime in the format "
            "YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)"
        ],
        ["column amount: null is not allowed"],
    ]


def test_raw_record_is_kept_as_received_with_extra_columns():
    row = {**GOOD, "amount": "NA", "channel": "web"}
    split = ContractValidator(Order).split(chunk([row], null_values=("", "NA")))
    assert split.valid.height == 0
    assert json.loads(split.quarantined["raw"][0]) == row  # "NA", not null; extra kept
    assert "channel" not in split.valid.columns


def test_extra_columns_are_tolerated_and_not_loaded():
    split = ContractValidator(Order).split(chunk([{**GOOD, "channel": "web"}]))
    assert split.valid.height == 1 and "channel" not in split.valid.columns


def test_missing_contract_column_quarantines_every_row():
    rows = [{k: v for k, v in GOOD.items() if k != "status"}] * 3
    split = ContractValidator(Order).split(chunk(rows))
    assert split.valid.height == 0
    assert messages(split) == [["missing column status"]] * 3


def test_duplicates_within_a_chunk_are_all_quarantined():
    split = ContractValidator(Order).split(chunk([GOOD, {**GOOD, "amount": "3"}]))
    assert split.valid.height == 0
    assert messages(split) == [["column order_id: '1' fails field_uniqueness"]] * 2


def test_dataframe_level_failure_fails_the_batch():
    class Balanced(pa.DataFrameModel):
        x: int

        @pa.dataframe_check
        def sums_to_zero(cls, data) -> bool:  # noqa: N805 - pandera's signature
            return data.lazyframe.select(pl.col("x").sum() == 0).collect().item()

    with pytest.raises(ContractError, match="sums_to_zero"):
        ContractValidator(Balanced).split(chunk([{"x": "1"}]))


def test_something_that_is_not_a_pandera_model_is_a_config_error():
    class NotAModel:
        x: int

    with pytest.raises(ConfigError, match="not a valid Pandera model"):
        ContractValidator(NotAModel)  # type: ignore[arg-type]


class Num(pa.DataFrameModel):
    n: int = pa.Field(ge=0)
    s: str = pa.Field(nullable=True)


cell = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["", "x", " 3 ", "1.5", None]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cell, cell), min_size=0, max_size=40))
def test_every_row_is_valid_or_quarantined_with_a_reason(rows):
    frame = pl.DataFrame(
        {"n": [a for a, _ in rows], "s": [b for _, b in rows]},
        schema={"n": pl.String, "s": pl.String},
    )
    split = ContractValidator(Num).split(Chunk(frame, source="p", position={}, null_values=("",)))
    assert split.valid.height + split.quarantined.height == frame.height
    for errors in split.quarantined["errors"]:
        parsed = json.loads(errors)
        assert parsed and all(e["column"] in {"n", "s"} for e in parsed)
    assert (split.valid["n"] >= 0).all()


def test_datetimes_with_offsets_are_converted_to_utc_not_a_crash():
    rows = [
        {**GOOD, "order_id": str(i), "created_at": v}
        for i, v in enumerate(["2026-01-02T03:04:05Z", "2026-01-02T05:04:05+02:00", "soon"])
    ]
    split = ContractValidator(Order).split(chunk(rows))
    assert split.valid["created_at"].to_list() == [dt.datetime(2026, 1, 2, 3, 4, 5)] * 2
    assert messages(split) == [
        [
            "column created_at: 'soon' is not a datetime in the format "
            "YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)"
        ]
    ]
    # every ISO shape is read on its own: a space and no zone among `Z` rows loads too
    mixed = ContractValidator(Order).split(chunk([rows[0], {**GOOD, "order_id": "9"}]))
    assert mixed.valid["created_at"].to_list() == [
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.datetime(2026, 1, 2, 3, 4, 5),
    ]


def test_a_typed_float_never_loads_truncated_into_an_integer_field():
    """Parquet, SQL and NDJSON deliver typed columns: 1.5 must not become 1."""
    frame = pl.DataFrame(
        {
            "order_id": [1.0, 1.5, 3e12, None],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "status": ["new"] * 4,
            "created_at": [dt.datetime(2026, 1, 1)] * 4,
            "note": ["a", "b", "c", "d"],
        }
    )
    split = ContractValidator(Order).split(
        Chunk(frame, source="t.parquet", position={}, null_values=())
    )
    assert split.valid["order_id"].to_list() == [1, 3_000_000_000_000]
    reasons = [json.loads(e)[0]["message"] for e in split.quarantined["errors"]]
    assert reasons == [
        "column order_id: '1.5' is not an integer",
        "column order_id: null is not allowed",
    ]
