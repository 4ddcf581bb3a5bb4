"""A value is loaded exactly or quarantined with a reason: decimals, dates and datetimes,
non-finite floats, typed sources, optional columns (issue 14, items 1, 2, 4, 9)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Optional

import pandera.polars as pa
import polars as pl
import pytest

from polaretl.errors import ConfigError
from polaretl.extract.base import Chunk
from polaretl.validate.contract import ContractValidator


def split(model, rows: list[dict], *, chunk_size: int | None = None, null_values=("",)):
    """Valid rows and quarantine messages, the rows split in chunks of `chunk_size`."""
    size = chunk_size or max(len(rows), 1)
    valid, messages = [], []
    validator = ContractValidator(model)
    for lo in range(0, len(rows), size):
        part = rows[lo : lo + size]
        frame = pl.DataFrame(part, schema={k: pl.String for k in part[0]})
        out = validator.split(Chunk(frame, source="t", position={}, null_values=null_values))
        valid += out.valid.drop("_polaretl_source").to_dicts()
        messages += [[e["message"] for e in json.loads(r)] for r in out.quarantined["errors"]]
    return valid, messages


class Price(pa.DataFrameModel):
    id: int
    amount: Annotated[pl.Decimal, 12, 2]


def test_decimals_are_never_rounded_more_places_or_digits_are_quarantined():
    values = ["1.999", "0.005", "123.456", "1.500", "1.5", "-0.25", "9999999999.99"]
    values += ["99999999999.99", "1e2", "12,5"]
    valid, messages = split(Price, [{"id": str(i), "amount": v} for i, v in enumerate(values)])
    assert valid == [
        {"id": 3, "amount": Decimal("1.50")},  # exactly 1.50: trailing zeros are no change
        {"id": 4, "amount": Decimal("1.50")},
        {"id": 5, "amount": Decimal("-0.25")},
        {"id": 6, "amount": Decimal("9999999999.99")},
    ]
    assert messages == [
        ["column amount: '1.999' has 3 decimal places; the contract allows 2"],
        ["column amount: '0.005' has 3 decimal places; the contract allows 2"],
        ["column amount: '123.456' has 3 decimal places; the contract allows 2"],
        [
            "column amount: '99999999999.99' has 11 digits before the decimal point; "
            "the contract allows 10 (Decimal(precision=12, scale=2))"
        ],
        ["column amount: '1e2' is not a decimal number (digits, with an optional sign and point)"],
        ["column amount: '12,5' is not a decimal number (digits, with an optional sign and point)"],
    ]


class Day(pa.DataFrameModel):
    id: int
    day: dt.date


class DayFirst(pa.DataFrameModel):
    id: int
    day: dt.date = pa.Field(metadata={"format": "%d/%m/%Y"})


class Moment(pa.DataFrameModel):
    id: int
    at: dt.datetime


class AwareMoment(pa.DataFrameModel):
    id: int
    at: Annotated[pl.Datetime, "us", "Europe/Paris"]


ISO_DATE = "is not a date in the format YYYY-MM-DD (ISO 8601)"
ISO_DATETIME = "is not a datetime in the format YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 10])
def test_dates_are_iso_whatever_chunk_they_land_in(chunk_size):
    values = ["2024-05-06", "24-01-02", "2024-01-02", "02/01/2024", "2024-02-30", "2024-1-2"]
    rows = [{"id": str(i), "day": v} for i, v in enumerate(values)]
    valid, messages = split(Day, rows, chunk_size=chunk_size)
    assert valid == [
        {"id": 0, "day": dt.date(2024, 5, 6)},
        {"id": 2, "day": dt.date(2024, 1, 2)},
    ]
    assert messages == [
        [f"column day: '{v}' {ISO_DATE}"]
        for v in values
        if v
        not in (
            "2024-05-06",
            "2024-01-02",
        )
    ]


def test_an_explicit_format_reads_day_first_and_names_itself_in_the_reason():
    values = ["02/01/2024", "13/01/2024", "01/13/2024", "1/2/2024", "2024-01-02", "02/01/24"]
    rows = [{"id": str(i), "day": v} for i, v in enumerate(values)]
    for size in (1, 3, 6):
        valid, messages = split(DayFirst, rows, chunk_size=size)
        assert valid == [
            {"id": 0, "day": dt.date(2024, 1, 2)},
            {"id": 1, "day": dt.date(2024, 1, 13)},
        ]
        assert messages == [
            [f"column day: '{v}' is not a date in the format %d/%m/%Y"] for v in values[2:]
        ]


@pytest.mark.parametrize("chunk_size", [1, 2, 4])
def test_iso_datetimes_of_every_shape_load_together_offsets_in_utc(chunk_size):
    values = [
        "2013-02-12T12:00:00Z",
        "2013-02-12 12:00:00",  # among Z rows: not "is not a datetime"
        "2013-02-12T14:00:00.25+02:00",
        "2013-02-12T07:00-0500",
        "2013-02-12 12:00:00.123456789",  # finer than microseconds
        "2013-02-12 12:00:00.123000",
        "2013-02-12 24:00:00",
        "2013-02-12T12:00:00+2",
    ]
    rows = [{"id": str(i), "at": v} for i, v in enumerate(values)]
    valid, messages = split(Moment, rows, chunk_size=chunk_size)
    noon = dt.datetime(2013, 2, 12, 12)
    assert valid == [
        {"id": 0, "at": noon},
        {"id": 1, "at": noon},
        {"id": 2, "at": noon.replace(microsecond=250_000)},
        {"id": 3, "at": noon},
        {"id": 5, "at": noon.replace(microsecond=123_000)},
    ]
    assert messages == [
        [
            "column at: '2013-02-12 12:00:00.123456789' has fractional seconds finer than "
            "the field's microseconds"
        ],
        [f"column at: '2013-02-12 24:00:00' {ISO_DATETIME}"],
        [f"column at: '2013-02-12T12:00:00+2' {ISO_DATETIME}"],
    ]


def test_an_aware_field_holds_the_same_instants_as_a_naive_one_holds_utc_wall_times():
    rows = [
        {"id": "1", "at": "2026-07-01T12:00:00Z"},
        {"id": "2", "at": "2026-07-01 14:00:00+02:00"},
        {"id": "3", "at": "2026-07-01 12:00:00"},  # no offset: UTC
    ]
    aware, _ = split(AwareMoment, rows)
    naive, _ = split(Moment, rows)
    assert {r["at"] for r in naive} == {dt.datetime(2026, 7, 1, 12)}
    paris = [r["at"] for r in aware]
    assert all(a.isoformat() == "2026-07-01T14:00:00+02:00" for a in paris)


class Reading(pa.DataFrameModel):
    id: int
    value: float = pa.Field(ge=0)
    small: pl.Float32 = pa.Field(nullable=True)


class LooseReading(pa.DataFrameModel):
    id: int
    value: float = pa.Field(nullable=True, metadata={"allow_non_finite": True})


def test_non_finite_floats_from_text_are_quarantined_unless_the_field_allows_them():
    values = ["NaN", "inf", "-Infinity", "1e400", "1e-400", "0e5", "2.5", "1.7976931348623157e308"]
    rows = [{"id": str(i), "value": v, "small": ""} for i, v in enumerate(values)]
    rows.append({"id": "8", "value": "1", "small": "3.5e38"})
    valid, messages = split(Reading, rows)
    assert [(r["id"], r["value"]) for r in valid] == [
        (5, 0.0),
        (6, 2.5),
        (7, 1.7976931348623157e308),
    ]
    finite = (
        "is not a finite number; a float field takes NaN and infinities only with "
        "metadata={'allow_non_finite': True}"
    )
    assert messages == [
        [f"column value: 'NaN' {finite}"],
        [f"column value: 'inf' {finite}"],
        [f"column value: '-Infinity' {finite}"],
        ["column value: '1e400' is too large for Float64 (it would load as infinity)"],
        ["column value: '1e-400' is too small for Float64 (it would load as 0)"],
        ["column small: '3.5e38' is too large for Float32 (it would load as infinity)"],
    ]
    # opted in (and nullable: Pandera counts NaN as null), NaN and infinities load; a
    # finite number that overflows or underflows still does not
    loose, messages = split(
        LooseReading, [{"id": str(i), "value": v} for i, v in enumerate(values)]
    )
    assert [str(r["value"]) for r in loose] == [
        "nan",
        "inf",
        "-inf",
        "0.0",
        "2.5",
        "1.7976931348623157e+308",
    ]
    assert messages == [
        ["column value: '1e400' is too large for Float64 (it would load as infinity)"],
        ["column value: '1e-400' is too small for Float64 (it would load as 0)"],
    ]


def test_integers_out_of_range_say_so():
    class Small(pa.DataFrameModel):
        n: pl.Int32

    valid, messages = split(Small, [{"n": v} for v in ["2147483647", "2147483648", "1.0", "+7"]])
    assert valid == [{"n": 2147483647}, {"n": 7}]
    assert messages == [
        ["column n: '2147483648' is outside the range of Int32 (-2147483648 to 2147483647)"],
        ["column n: '1.0' is not an integer"],
    ]


def test_typed_values_that_a_cast_would_change_are_quarantined():
    """Parquet, SQL and replay deliver typed columns: the same rule as text."""

    class Typed(pa.DataFrameModel):
        price: Annotated[pl.Decimal, 12, 2]
        value: float
        at: dt.datetime

    frame = pl.DataFrame(
        {
            "price": [1.25, 1.999, 2.5],
            "value": [1.0, float("nan"), float("inf")],
            "at": pl.Series(
                [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1)]
            ).cast(pl.Datetime("ns"))
            + pl.Series([0, 0, 1]).cast(pl.Duration("ns")),
        }
    )
    out = ContractValidator(Typed).split(Chunk(frame, source="t.parquet", position={}))
    assert out.valid.drop("_polaretl_source").to_dicts() == [
        {"price": Decimal("1.25"), "value": 1.0, "at": dt.datetime(2026, 1, 1)}
    ]
    assert [[e["message"] for e in json.loads(r)] for r in out.quarantined["errors"]] == [
        [
            "column price: '1.999' is not a number",
            "column value: 'NaN' is not a finite number; a float field takes NaN and "
            "infinities only with metadata={'allow_non_finite': True}",
        ],
        [
            "column value: 'inf' is not a finite number; a float field takes NaN and "
            "infinities only with metadata={'allow_non_finite': True}",
            "column at: '2026-01-01 00:00:00.000000001' is not a datetime",
        ],
    ]


class Customer(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    email: Optional[str]  # noqa: UP045 - Pandera reads Optional as "may be absent"
    score: Optional[int] = pa.Field(ge=0)  # noqa: UP045


def test_an_absent_optional_column_loads_null_an_absent_required_one_quarantines():
    valid, messages = split(Customer, [{"id": "1"}, {"id": "2"}])
    assert valid == [
        {"id": 1, "email": None, "score": None},
        {"id": 2, "email": None, "score": None},
    ]
    assert messages == []
    valid, messages = split(Customer, [{"id": "1", "score": "-1"}, {"id": "2", "score": "3"}])
    assert valid == [{"id": 2, "email": None, "score": 3}]  # a present optional is checked
    assert messages == [["column score: '-1' fails greater_than_or_equal_to(0)"]]
    valid, messages = split(Customer, [{"email": "a@b"}])
    assert valid == [] and messages == [["missing column id"]]


@pytest.mark.parametrize(
    ("meta", "dtype", "match"),
    [
        ({"format": "%d/%m/%Y %H:%M"}, dt.date, "cannot hold a time"),
        ({"format": "%Q"}, dt.date, "uses %Q"),
        ({"format": "%d/%m/%Y"}, int, "for a date, datetime or time field"),
        ({"allow_non_finite": True}, int, "on a float field"),
        ({"allow_non_finite": "yes"}, float, "True or False"),
    ],
)
def test_a_bad_format_or_option_is_refused_when_the_contract_loads(meta, dtype, match):
    model = type(
        "Bad",
        (pa.DataFrameModel,),
        {"__annotations__": {"x": dtype}, "x": pa.Field(metadata=meta)},
    )
    with pytest.raises(ConfigError, match=match):
        ContractValidator(model)


class Opening(pa.DataFrameModel):
    id: int
    opens: dt.time
    closes: dt.time = pa.Field(metadata={"format": "%I:%M %p"})


def test_times_are_iso_or_the_fields_format():
    rows = [
        {"id": "1", "opens": "09:30", "closes": "05:30 PM"},
        {"id": "2", "opens": "09:30:15.25", "closes": "12:00 AM"},
        {"id": "3", "opens": "9:30", "closes": "17:30"},
        {"id": "4", "opens": "24:00", "closes": "5:30 PM"},
    ]
    valid, messages = split(Opening, rows, chunk_size=2)
    assert valid == [
        {"id": 1, "opens": dt.time(9, 30), "closes": dt.time(17, 30)},
        {"id": 2, "opens": dt.time(9, 30, 15, 250000), "closes": dt.time(0, 0)},
    ]
    assert messages == [
        [
            "column opens: '9:30' is not a time in the format HH:MM[:SS[.f]] (ISO 8601)",
            "column closes: '17:30' is not a time in the format %I:%M %p",
        ],
        [
            "column opens: '24:00' is not a time in the format HH:MM[:SS[.f]] (ISO 8601)",
            "column closes: '5:30 PM' is not a time in the format %I:%M %p",
        ],
    ]
