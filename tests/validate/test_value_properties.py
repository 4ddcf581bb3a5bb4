"""The root-cause guard for values changed in silence (issue 14, items 1, 2 and 4).

Random text values of each type family go through a contract's split, in random chunk
sizes, and each one must come out either

- loaded with exactly the value an independent oracle reads from the same text
  (Python's `decimal.Decimal`, `datetime.date.fromisoformat`, `datetime.fromisoformat`,
  `datetime.strptime`, `float` with finiteness, `int`), or
- quarantined with a reason naming its column,

and the same whichever chunk it lands in (the split is run again with another chunk
size, and with each value alone). Values written in a documented form (ISO 8601, an
explicit format as Python's strftime writes it, plain decimal digits within the scale)
must load: quarantining everything would pass the first rule, not this one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal, localcontext
from typing import Annotated, Any

import pandera.polars as pa
import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from polaretl.extract.base import Chunk
from polaretl.validate.contract import ContractValidator

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOADED = "loaded"


def outcomes(model: type[pa.DataFrameModel], values: list[str | None], size: int) -> list[Any]:
    """Per value: (LOADED, typed value) or the messages of its quarantine record."""
    validator = ContractValidator(model)
    out: dict[int, Any] = {}
    for lo in range(0, len(values), size):
        part = values[lo : lo + size]
        frame = pl.DataFrame(
            {"row": [str(lo + i) for i in range(len(part))], "x": part},
            schema={"row": pl.String, "x": pl.String},
        )
        split = validator.split(Chunk(frame, source="p", position={}, null_values=[""]))
        for row in split.valid.to_dicts():
            out[row["row"]] = (LOADED, row["x"])
        for raw, errors in zip(split.quarantined["raw"], split.quarantined["errors"], strict=True):
            reasons = json.loads(errors)
            assert reasons and all(e["column"] == "x" and e["message"] for e in reasons)
            out[int(json.loads(raw)["row"])] = [e["message"] for e in reasons]
    assert sorted(out) == list(range(len(values)))  # every value: loaded or quarantined
    return [out[i] for i in range(len(values))]


def check(model, values, size, oracle, documented) -> None:
    """Every outcome agrees with the oracle, documented values load, and chunks agree."""
    got = outcomes(model, values, size)
    assert outcomes(model, values, len(values)) == got  # one chunk
    assert outcomes(model, values[:3], 1) == got[:3]  # alone (the first few: it costs)
    for value, outcome in zip(values, got, strict=True):
        expected = oracle(value)
        if outcome[0] == LOADED:
            assert expected is not None, f"{value!r} loaded as {outcome[1]!r}"
            assert _same(outcome[1], expected), f"{value!r}: {outcome[1]!r} != {expected!r}"
        else:
            assert not documented(value), f"{value!r} is documented but quarantined: {outcome}"


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, float):
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    return type(got) is type(expected) and got == expected


def chunked(values: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[list[str], int]]:
    return st.tuples(st.lists(values, min_size=1, max_size=12), st.integers(1, 5))


def spaced(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Sometimes with the surrounding whitespace a CSV field may carry (ignored)."""
    return st.tuples(st.sampled_from(["", " "]), text, st.sampled_from(["", " "])).map("".join)


# --- decimals -------------------------------------------------------------------------

PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")


def decimal_model(precision: int, scale: int) -> type[pa.DataFrameModel]:
    return type(
        "Dec",
        (pa.DataFrameModel,),
        {"__annotations__": {"row": int, "x": Annotated[pl.Decimal, precision, scale]}},
    )


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    digits = draw(st.text("0123456789", min_size=1, max_size=14))
    places = draw(st.text("0123456789", max_size=6))
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    form = draw(st.sampled_from(["plain", "plain", "no_int", "exp", "junk"]))
    if form == "no_int" and places:
        return f"{sign}.{places}"
    if form == "exp":
        return f"{sign}{digits}e{draw(st.integers(-3, 3))}"
    if form == "junk":
        return draw(st.sampled_from(["", "abc", "1,5", "1.2.3", "NaN", "Infinity", "1_000", "."]))
    return f"{sign}{digits}" + (f".{places}" if places or draw(st.booleans()) else "")


@SETTINGS
@given(
    scale_precision=st.integers(0, 18).flatmap(
        lambda s: st.tuples(st.just(s), st.integers(max(s, 1), 20))
    ),
    case=chunked(spaced(decimal_texts())),
)
def test_decimals_load_exactly_or_are_quarantined(scale_precision, case):
    scale, precision = scale_precision
    values, size = case

    def oracle(text: str) -> Decimal | None:
        text = text.strip()
        if not PLAIN_DECIMAL.fullmatch(text):
            return None  # the documented form: digits, an optional sign and point
        value = Decimal(text)
        with localcontext(prec=100):
            exact = value.quantize(Decimal(1).scaleb(-scale))  # the value at the field's scale
        if exact != value or abs(exact) >= Decimal(10) ** (precision - scale):
            return None  # it would be rounded, or it has more digits than the precision
        return exact

    check(decimal_model(precision, scale), values, size, oracle, lambda v: oracle(v) is not None)


# --- dates and datetimes --------------------------------------------------------------


class IsoDate(pa.DataFrameModel):
    row: int
    x: dt.date


class IsoMoment(pa.DataFrameModel):
    row: int
    x: dt.datetime


class MilliMoment(pa.DataFrameModel):
    row: int
    x: Annotated[pl.Datetime, "ms", None]


dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
# edges drawn often: two-digit-year pivots (68/69/70), leap days, the first and last years
_EDGE_YEARS = [1, 2, 1900, 1968, 1969, 1970, 1999, 2000, 2024, 2068, 2069, 2070, 9998, 9999]
moments = st.one_of(
    st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30)),
    st.builds(
        lambda year, moment: moment.replace(year=year, day=min(moment.day, 28)),
        st.sampled_from(_EDGE_YEARS),
        st.datetimes(dt.datetime(2001, 1, 1), dt.datetime(2001, 12, 31)),
    ).filter(lambda m: dt.datetime(1, 1, 2) <= m <= dt.datetime(9999, 12, 30)),
)


@st.composite
def iso_date_texts(draw: st.DrawFn) -> str:
    day = draw(dates)
    return draw(
        st.sampled_from(
            [
                day.isoformat(),
                day.isoformat(),
                day.strftime("%y-%m-%d"),  # a 2-digit year
                f"{day.year}-{day.month}-{day.day}",  # no padding
                day.strftime("%d/%m/%Y"),
                day.strftime("%Y%m%d"),
                day.isoformat() + "T00:00:00",
                draw(st.sampled_from(["2024-02-30", "2023-02-29", "0000-01-01", "2024-13-01"])),
            ]
        )
    )


@SETTINGS
@given(case=chunked(spaced(iso_date_texts())))
def test_dates_are_iso_or_quarantined_whatever_their_chunk(case):
    values, size = case
    iso = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def oracle(text: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            return None

    check(IsoDate, values, size, oracle, lambda v: iso.fullmatch(v.strip()) and oracle(v))


ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)


@st.composite
def iso_datetime_texts(draw: st.DrawFn) -> str:
    moment = draw(moments)
    sep = draw(st.sampled_from(["T", " "]))
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M")
    if draw(st.booleans()):
        text += moment.strftime(":%S")
        if draw(st.booleans()):
            text += "." + draw(st.text("0123456789", min_size=1, max_size=9))
    if draw(st.booleans()):
        hours, minutes = draw(st.integers(0, 23)), draw(st.integers(0, 59))
        sign = draw(st.sampled_from("+-"))
        text += draw(
            st.sampled_from(
                [
                    "Z",
                    f"{sign}{hours:02}:{minutes:02}",
                    f"{sign}{hours:02}{minutes:02}",
                    f"{sign}{hours:02}",
                ]
            )
        )
    mutation = draw(st.sampled_from([None] * 6 + ["short_year", "hour_24", "second_60", "junk"]))
    if mutation == "short_year":
        text = text[2:]
    elif mutation == "hour_24":
        text = text[:11] + "24" + text[13:]
    elif mutation == "second_60" and len(text) >= 19:
        text = text[:17] + "60" + text[19:]
    elif mutation == "junk":
        text = draw(st.sampled_from(["yesterday", "2013-02-12T12", "20130212T120000", "12:00"]))
    return text


def datetime_oracle(digits: int):
    """What `datetime.fromisoformat` reads, in UTC, naive; None when a fraction is finer
    than `digits` (Python would cut it off) or the text is not ISO."""

    def oracle(text: str) -> dt.datetime | None:
        text = text.strip()
        match = re.search(r"\.([0-9]+)", text)
        if match:
            if match.group(1)[digits:].strip("0"):
                return None  # a finer fraction is never cut off in silence
            text = text[: match.start(1)] + match.group(1)[:6].ljust(6, "0") + text[match.end(1) :]
        try:
            value = dt.datetime.fromisoformat(text)
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):
            return None
        return value

    return oracle


@SETTINGS
@given(case=chunked(spaced(iso_datetime_texts())))
def test_datetimes_are_iso_offsets_to_utc_or_quarantined_whatever_their_chunk(case):
    values, size = case
    oracle = datetime_oracle(6)
    check(
        IsoMoment, values, size, oracle, lambda v: ISO_DATETIME.fullmatch(v.strip()) and oracle(v)
    )


@SETTINGS
@given(case=chunked(iso_datetime_texts()))
def test_a_millisecond_field_never_cuts_a_fraction_off(case):
    values, size = case
    oracle = datetime_oracle(3)
    check(MilliMoment, values, size, oracle, lambda v: ISO_DATETIME.fullmatch(v) and oracle(v))


@SETTINGS
@given(case=chunked(st.just(None)), data=st.data())
def test_a_chunk_of_one_layout_takes_the_fast_path_with_the_same_answers(case, data):
    """All values in one fixed layout (Polars' fast path) or mixed (the general path)."""
    layout = data.draw(
        st.sampled_from(
            [
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%SZ",
                "%Y-%m-%dT%H:%M:%S.%fZ",
                "%Y-%m-%d %H:%M:%S.%f",
            ]
        )
    )
    values = [data.draw(moments).strftime(layout) for _ in case[0]]
    values += data.draw(st.lists(iso_datetime_texts(), max_size=2))  # sometimes mixed
    oracle = datetime_oracle(6)
    check(IsoMoment, values, case[1], oracle, lambda v: ISO_DATETIME.fullmatch(v) and oracle(v))


FORMATS = [
    "%d/%m/%y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%Y%m%d",
    "%d.%m.%y %H:%M:%S",
    "%d.%m.%y %H:%M %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%d %b %Y",
]


@SETTINGS
@given(fmt=st.sampled_from(FORMATS), data=st.data(), size=st.integers(1, 5))
def test_an_explicit_format_reads_what_strptime_reads_or_quarantines(fmt, data, size):
    temporal = dt.date if "%H" not in fmt else dt.datetime
    model = type(
        "Fmt",
        (pa.DataFrameModel,),
        {
            "__annotations__": {"row": int, "x": temporal},
            "x": pa.Field(metadata={"format": fmt}),
        },
    )
    aware = "%z" in fmt

    def text(moment: dt.datetime) -> str:
        if aware:
            offset = data.draw(st.integers(-23 * 60, 23 * 60))
            moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset)))
        written = moment.strftime(fmt)
        mutation = data.draw(st.sampled_from([None, None, None, "strip_zero", "iso"]))
        if mutation == "strip_zero":
            return re.sub(r"(^|[^0-9])0([1-9])", r"\1\2", written, count=1)
        return moment.isoformat() if mutation == "iso" else written

    values = [text(data.draw(moments)) for _ in range(data.draw(st.integers(1, 8)))]

    def oracle(value: str) -> Any:
        try:
            parsed = dt.datetime.strptime(value, fmt)
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            try:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:
                return None
        return parsed.date() if temporal is dt.date else parsed

    def documented(value: str) -> bool:
        parsed = oracle(value)
        if parsed is None or value.strip() != value:
            return False
        original = dt.datetime.strptime(value, fmt)
        return original.strftime(fmt) == value and (not aware or parsed.year > 1)

    check(model, values, size, oracle, documented)


# --- floats, integers, strings --------------------------------------------------------


class Real(pa.DataFrameModel):
    row: int
    x: float


class Whole(pa.DataFrameModel):
    row: int
    x: int


class Small(pa.DataFrameModel):
    row: int
    x: pl.Int16


class Text(pa.DataFrameModel):
    row: int
    x: str = pa.Field(nullable=True)


@st.composite
def float_texts(draw: st.DrawFn) -> str:
    x = draw(st.floats(allow_nan=False, allow_infinity=False))
    return draw(
        st.sampled_from(
            [
                repr(x),
                f"{x:.17g}",
                f"{x:e}",
                f"{x:.2f}0",  # a trailing zero
                str(draw(st.integers(-(10**20), 10**20))),
                draw(
                    st.sampled_from(
                        [
                            "NaN",
                            "nan",
                            "inf",
                            "-inf",
                            "+Infinity",
                            "1e400",
                            "-1e400",
                            "1e-400",
                            "4.9e-324",
                            "0e5",
                            "-0.0",
                            ".5",
                            "5.",
                            "+1.5",
                            "1_0",
                            "0x10",
                            "",
                            "1e",
                            "abc",
                        ]
                    )
                ),
            ]
        )
    )


@SETTINGS
@given(case=chunked(spaced(float_texts())))
def test_floats_are_python_floats_finite_never_overflowed_or_underflowed(case):
    values, size = case

    def oracle(text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            return None
        mantissa = re.split("[eE]", text.strip())[0]
        if not math.isfinite(value) or (value == 0 and re.search("[1-9]", mantissa)):
            return None
        return value

    documented = lambda v: oracle(v) is not None and "_" not in v  # noqa: E731
    check(Real, values, size, oracle, documented)


@st.composite
def int_texts(draw: st.DrawFn) -> str:
    edge = draw(st.sampled_from([2**63, 2**15, 10**20, 100]))
    n = draw(st.integers(-edge - 3, edge + 2))
    form = draw(st.sampled_from(["plain", "plain", "plus", "zeros", "float", "under", "exp"]))
    return {
        "plain": str(n),
        "plus": f"+{abs(n)}",
        "zeros": f"{'-' if n < 0 else ''}00{abs(n)}",
        "float": f"{n}.0",
        "under": f"{n:_}",
        "exp": f"{n}e0",
    }[form]


@SETTINGS
@given(case=chunked(spaced(int_texts())), small=st.booleans())
def test_integers_are_python_ints_in_range_never_wrapped(case, small):
    values, size = case
    low, high = (-(2**15), 2**15 - 1) if small else (-(2**63), 2**63 - 1)

    def oracle(text: str) -> int | None:
        try:
            value = int(text)
        except ValueError:
            return None
        return value if low <= value <= high else None

    plain = re.compile(r"[+-]?[0-9]+")
    check(
        Small if small else Whole,
        values,
        size,
        oracle,
        lambda v: plain.fullmatch(v.strip()) and oracle(v) is not None,
    )


@SETTINGS
@given(case=chunked(st.text(min_size=1, max_size=12)))
def test_strings_load_exactly_as_received(case):
    values, size = case
    assume(all("\x00" not in v for v in values))  # NUL never reaches a contract (extractors)
    check(Text, values, size, lambda v: v, lambda v: True)
