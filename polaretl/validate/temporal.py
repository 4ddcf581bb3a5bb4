"""Dates, datetimes and times from text: one documented format per field, never a guess.

A value is parsed by its field's format alone, so it gets the same answer in whatever
chunk it lands and whatever its neighbours look like:

- **ISO 8601, by default.** A date is ``YYYY-MM-DD``. A datetime is a date, ``T`` or a
  space, ``HH:MM``, optionally ``:SS`` and a fraction of 1 to 9 digits, then ``Z``, an
  offset (``±HH:MM``, ``±HHMM``, ``±HH``) or nothing. A time is ``HH:MM``, optionally
  ``:SS`` and a fraction. Every field has its width: ``24-01-02`` or ``2024-1-2`` is not
  ISO and is quarantined, never read as year 24 or as a day-first date.
- **An explicit format** per field, ``pa.Field(metadata={"format": "%d/%m/%Y"})``, in
  chrono's strftime directives (what Polars' ``str.to_datetime`` takes). A value must
  match it with every directive at its full width (``%d`` two digits; ``%-d`` for one or
  two, ``%Y`` four): chrono alone would read ``1/2/24`` with ``%d/%m/%Y`` as year 24.
  An unsupported directive is a `ConfigError` when the contract is loaded.

Offsets: a value with ``Z`` or an offset is converted to UTC; a value without one is
taken as UTC. A naive ``datetime`` field then holds the UTC wall time, an aware one
(``Annotated[pl.Datetime, "us", "Europe/Paris"]``) the same instant in its zone.

Nothing is rounded: a fraction finer than the field's unit (``.1234567`` for
microseconds) is quarantined unless the extra digits are zeros. Years run from 1 to
9999 (year 0 is neither Python's nor PostgreSQL's).

Everything is a Polars expression over the whole column. A chunk whose values all share
one fixed layout (the usual case: one source, one writer) is parsed by Polars'
fixed-format fast path (`fast_layout`); any other chunk by the general ISO parse, which
checks the shape with one anchored regex, takes the fields at their fixed positions and
adds them up: the same values, at a few times the cost (about 1 CPU-second per 1M
values). Which one runs never changes a value's answer (tests/validate/
test_value_properties.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import polars as pl

from polaretl.errors import ConfigError

#: What a message says a value should look like, per dtype, when no format is given.
ISO_DATE = "YYYY-MM-DD (ISO 8601)"
ISO_DATETIME = "YYYY-MM-DD[T| ]HH:MM[:SS[.f]][Z|±HH:MM] (ISO 8601)"
ISO_TIME = "HH:MM[:SS[.f]] (ISO 8601)"

_YEAR = r"[0-9]{4}"
_MD = r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_HM = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
_SECONDS = r"(?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?"
_DATE_RE = rf"^{_YEAR}{_MD}$"
_DATETIME_RE = rf"^{_YEAR}{_MD}[T ]{_HM}{_SECONDS}{_OFFSET}$"
_TIME_RE = rf"^{_HM}{_SECONDS}$"

# Year 0 is neither Python's nor PostgreSQL's; a comparison costs far less than .dt.year
_FIRST_DAY = dt.date(1, 1, 1)
_FIRST_MOMENT = dt.datetime(1, 1, 1)
_LAST_MOMENT = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
TimeUnit = Literal["ns", "us", "ms"]
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}
_UNIT_NAME = {"ns": "nanoseconds", "us": "microseconds", "ms": "milliseconds"}


def _int(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Int64, strict=False)


def _fraction_ns(digits: pl.Expr) -> pl.Expr:
    """``"5"`` -> 500000000: 1 to 9 fraction digits as nanoseconds (``""`` -> 0)."""
    return _int(digits.str.pad_end(9, "0"))


def _clock(v: pl.Expr, at: int, unit: TimeUnit) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """From ``HH:MM[:SS[.f]]`` at byte `at` of `v` (shape already checked): the duration
    since midnight, whether the fraction fits `unit`, and the text after the clock."""
    has_s = v.str.slice(at + 5, 1) == ":"
    seconds = _int(v.str.slice(at, 2)) * 3600 + _int(v.str.slice(at + 3, 2)) * 60
    seconds = seconds + pl.when(has_s).then(_int(v.str.slice(at + 6, 2))).otherwise(0)
    rest = v.str.slice(pl.when(has_s).then(at + 8).otherwise(at + 5))
    end = rest.str.find(r"[Z+-]").fill_null(rest.str.len_bytes()).cast(pl.Int64)
    ns = _fraction_ns(rest.str.slice(1, (end - 1).clip(0)))  # "" when there is no fraction
    step = _NS[unit]
    since = (seconds * 1_000_000_000 + ns // step * step).cast(pl.Duration("ns"))
    return since, ns % step == 0, rest.str.slice(end)


def _offset_minutes(zone: pl.Expr) -> pl.Expr:
    """Minutes east of UTC of ``""``, ``Z``, ``±HH``, ``±HHMM`` or ``±HH:MM``."""
    minutes = _int(zone.str.slice(1, 2)).fill_null(0) * 60 + pl.when(zone.str.len_bytes() > 3).then(
        _int(zone.str.slice(-2))
    ).otherwise(0)
    return pl.when(zone.str.starts_with("-")).then(-minutes).otherwise(minutes)


def iso_date(v: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` text as a Date; null when it is not one.

    Example:
        >>> s = pl.Series(["2024-05-06", "24-01-02", "2024-1-2", "2024-02-30", "0000-01-01"])
        >>> s.to_frame("d").select(iso_date(pl.col("d"))).to_series().to_list()
        [datetime.date(2024, 5, 6), None, None, None, None]
    """
    date = v.str.to_date("%Y-%m-%d", strict=False)
    return pl.when(v.str.contains(_DATE_RE) & (date >= _FIRST_DAY)).then(date)


#: Layouts of ISO datetimes that Polars parses on its fixed-format fast path: a chunk
#: whose values all share one is parsed that way (the same values as `iso_datetime`'s
#: general path, several times faster); any other chunk takes the general path.
_FAST = [
    (rf"^{_YEAR}{_MD}{sep}{_HM}:[0-5][0-9]{frac_re}{zone}$", f"%Y-%m-%d{sep}%H:%M:%S{frac}{zone}")
    for sep in (" ", "T")
    for frac_re, frac in (("", ""), (r"\.[0-9]{3}", ".%3f"), (r"\.[0-9]{6}", ".%6f"))
    for zone in ("", "Z")
]


def fast_layout(values: pl.Series, unit: TimeUnit) -> str | None:
    """The fixed format all of `values` (trimmed text, nulls ignored) are written in, when
    it is one of the fast layouts and holds no finer fraction than `unit`; else None.

    Example:
        >>> fast_layout(pl.Series(["2026-01-02T03:04:05.123Z", None]), "us")
        '%Y-%m-%dT%H:%M:%S.%3fZ'
        >>> fast_layout(pl.Series(["2026-01-02T03:04:05Z", "2026-01-02 03:04:05"]), "us")
    """
    present = values.drop_nulls()
    if present.is_empty() or present.str.starts_with("0000").any():  # year 0: the general path
        return None
    first = present[0]
    for regex, fmt in _FAST:
        if re.fullmatch(regex, first, flags=re.ASCII) and present.str.contains(regex).all():
            return fmt if (".%6f" not in fmt or unit != "ms") else None
    return None


def iso_datetime(v: pl.Expr, unit: TimeUnit, layout: str | None = None) -> pl.Expr:
    """ISO 8601 datetime text as a naive Datetime(`unit`) in UTC; null when it is not one.
    `layout` (from `fast_layout`) says every value is written in that fixed format.

    Example:
        >>> s = pl.Series(["2026-01-02T03:04:05Z", "2026-01-02 05:04:05.5+02:00",
        ...                "2026-01-02 03:04", "2013-02-12 12:00:00", "24-01-02 00:00"])
        >>> for x in s.to_frame("t").select(iso_datetime(pl.col("t"), "us")).to_series():
        ...     print(x)
        2026-01-02 03:04:05
        2026-01-02 03:04:05.500000
        2026-01-02 03:04:00
        2013-02-12 12:00:00
        None
    """
    if layout is not None:  # all within years 1 to 9999, no offset: nothing to check
        return v.str.to_datetime(layout, time_unit=unit, strict=False)
    date = v.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    since, fits, zone = _clock(v, 11, unit)
    value = (
        date.cast(pl.Datetime("ns" if unit == "ns" else "us"))
        + since
        - (_offset_minutes(zone) * 60_000_000_000).cast(pl.Duration("ns"))
    ).cast(pl.Datetime(unit), strict=False)
    ok = v.str.contains(_DATETIME_RE) & fits & value.is_between(_FIRST_MOMENT, _LAST_MOMENT)
    return pl.when(ok).then(value)


def iso_time(v: pl.Expr) -> pl.Expr:
    """``HH:MM[:SS[.f]]`` text as a Time; null when it is not one.

    Example:
        >>> s = pl.Series(["03:04", "03:04:05.25", "24:00", "3:04"])
        >>> s.to_frame("t").select(iso_time(pl.col("t"))).to_series().to_list()
        [datetime.time(3, 4), datetime.time(3, 4, 5, 250000), None, None]
    """
    since, _, _ = _clock(v, 0, "ns")
    return pl.when(v.str.contains(_TIME_RE)).then(since.cast(pl.Int64).cast(pl.Time))


# strftime directives polaretl accepts in an explicit format, as the regex of the text
# each one matches at its full width (chrono would accept fewer digits, or a sign).
_DIRECTIVES: dict[str, str] = {
    "Y": r"[0-9]{4}",
    "y": r"(?P<y>[0-9]{2})",
    "m": r"(?:0[1-9]|1[0-2])",
    "-m": r"(?:0?[1-9]|1[0-2])",
    "d": r"(?:0[1-9]|[12][0-9]|3[01])",
    "-d": r"(?:0?[1-9]|[12][0-9]|3[01])",
    "j": r"[0-9]{3}",
    "b": r"[A-Za-z]{3}",
    "h": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]{3,9}",
    "a": r"[A-Za-z]{3}",
    "A": r"[A-Za-z]{6,9}",
    "H": r"(?:[01][0-9]|2[0-3])",
    "-H": r"(?:[01]?[0-9]|2[0-3])",
    "I": r"(?:0[1-9]|1[0-2])",
    "-I": r"(?:0?[1-9]|1[0-2])",
    "M": r"[0-5][0-9]",
    "S": r"[0-5][0-9]",
    "p": r"[AaPp][Mm]",
    ".f": r"(?:\.(?P<f>[0-9]{1,9}))?",
    ".3f": r"\.(?P<f>[0-9]{3})",
    ".6f": r"\.(?P<f>[0-9]{6})",
    ".9f": r"\.(?P<f>[0-9]{9})",
    "3f": r"(?P<f>[0-9]{3})",
    "6f": r"(?P<f>[0-9]{6})",
    "9f": r"(?P<f>[0-9]{9})",
    "z": r"[+-](?:[01][0-9]|2[0-3])[0-5][0-9]",
    ":z": r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]",
    "#z": r"[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?",
    "%": "%",
}
_SHORTHANDS = {"F": "%Y-%m-%d", "T": "%H:%M:%S", "R": "%H:%M", "D": "%m/%d/%y"}
_DATE_PART = set("YymdjbhBaA") | {"-m", "-d"}
_TIME_PART = set("HIMSp") | {"-H", "-I", ".f", ".3f", ".6f", ".9f", "3f", "6f", "9f"}
_ZONE_PART = {"z", ":z", "#z"}
_TOKEN = re.compile(r"%(\.[369]?f|[369]f|[-:#]?[A-Za-z%])")


class Format:
    """An explicit strftime format of a date, datetime or time field.

    Args:
        fmt: chrono strftime directives, e.g. ``"%d/%m/%Y %H:%M"``.
        dtype: the field's dtype (Date, Datetime or Time).
        where: names the field in errors.

    Example:
        >>> Format("%d/%m/%Y", pl.Date(), "x").regex
        '^(?:0[1-9]|[12][0-9]|3[01])/(?:0[1-9]|1[0-2])/[0-9]{4}$'
        >>> Format("%Q", pl.Date(), "x")
        Traceback (most recent call last):
        ...
        polaretl.errors.ConfigError: x: format '%Q' uses %Q, which polaretl does not ...
    """

    def __init__(self, fmt: str, dtype: pl.DataType, where: str) -> None:
        self.fmt = fmt
        expanded = _TOKEN.sub(lambda m: _SHORTHANDS.get(m.group(1), m.group(0)), fmt)
        parts: list[str] = []
        used: set[str] = set()
        pos = 0
        for m in _TOKEN.finditer(expanded):
            parts.append(re.escape(expanded[pos : m.start()]))
            name = m.group(1)
            if name not in _DIRECTIVES:
                raise ConfigError(
                    f"{where}: format {fmt!r} uses %{name}, which polaretl does not parse "
                    f"strictly. Use: {', '.join('%' + d for d in _DIRECTIVES)} (and "
                    f"{', '.join('%' + s for s in _SHORTHANDS)})."
                )
            parts.append(_DIRECTIVES[name])
            used.add(name)
            pos = m.end()
        rest = expanded[pos:]
        if "%" in rest:
            raise ConfigError(f"{where}: format {fmt!r} has a lone '%'; write '%%' for one.")
        parts.append(re.escape(rest))
        if isinstance(dtype, pl.Date) and used & (_TIME_PART | _ZONE_PART):
            raise ConfigError(
                f"{where}: a date field's format cannot hold a time or an offset ({fmt!r}): "
                "the time would be dropped. Use a datetime field."
            )
        if isinstance(dtype, pl.Time) and used & (_DATE_PART | _ZONE_PART):
            raise ConfigError(f"{where}: a time field's format cannot hold a date ({fmt!r}).")
        self.regex = "^" + "".join(parts) + "$"
        self.groups = re.compile(self.regex).groupindex  # "f": the fraction, "y": %y
        self.chrono = expanded

    def parse(self, v: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        """`v` parsed into `dtype` (a Datetime in UTC, naive); null when it does not match."""
        ok = v.str.contains(self.regex)
        if isinstance(dtype, pl.Date):
            value: pl.Expr = self._century(v, v.str.to_date(self.chrono, strict=False))
            ok = ok & (value >= _FIRST_DAY)
        elif isinstance(dtype, pl.Time):
            value = v.str.to_time(self.chrono, strict=False)
        else:
            assert isinstance(dtype, pl.Datetime)
            unit = dtype.time_unit
            value = self._century(
                v, v.str.to_datetime(self.chrono, time_unit=unit, time_zone="UTC", strict=False)
            ).dt.replace_time_zone(None)
            ok = ok & value.is_between(_FIRST_MOMENT, _LAST_MOMENT)
            if "f" in self.groups and unit != "ns":
                digits = v.str.extract(self.regex, self.groups["f"]).fill_null("")
                ok = ok & (_fraction_ns(digits) % _NS[unit] == 0)
        return pl.when(ok).then(value)

    def _century(self, v: pl.Expr, value: pl.Expr) -> pl.Expr:
        """A two-digit year 69 is 1969 (00-68: 2000-2068, 69-99: 1969-1999), as POSIX
        strptime (and Python's) reads it; chrono says 2069. The text decides, so a UTC
        instant an offset moved across a new year is corrected all the same."""
        if "y" not in self.groups:
            return value
        sixty_nine = v.str.extract(self.regex, self.groups["y"]) == "69"
        return pl.when(sixty_nine).then(value.dt.offset_by("-100y")).otherwise(value)


def parse(v: pl.Expr, dtype: pl.DataType, fmt: Format | None, layout: str | None = None) -> pl.Expr:
    """Text `v` as `dtype` (Date, Datetime or Time) by `fmt`, else ISO 8601 (`layout`: see
    `iso_datetime`); null when the value does not match. A Datetime with a zone holds the
    instant in that zone."""
    if isinstance(dtype, pl.Datetime):
        naive = fmt.parse(v, dtype) if fmt else iso_datetime(v, dtype.time_unit, layout)
        if dtype.time_zone is None:
            return naive
        return naive.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    if fmt is not None:
        return fmt.parse(v, dtype)
    return iso_date(v) if isinstance(dtype, pl.Date) else iso_time(v)


def reason(v: pl.Expr, dtype: pl.DataType, fmt: Format | None) -> pl.Expr:
    """Why text `v` did not parse (for failed rows only): the format it should match, or
    a fraction finer than the field's unit.

    Example:
        >>> df = pl.DataFrame({"t": ["tuesday", "2026-01-02 03:04:05.1234567"]})
        >>> df.select(reason(pl.col("t"), pl.Datetime("us"), None)).to_series().to_list()[1]
        "has fractional seconds finer than the field's microseconds"
    """
    what = "a date" if isinstance(dtype, pl.Date) else "a time"
    expected = ISO_DATE if isinstance(dtype, pl.Date) else ISO_TIME
    if isinstance(dtype, pl.Datetime):
        what, expected = "a datetime", ISO_DATETIME
    if fmt is not None:
        expected = fmt.fmt
    plain = pl.lit(f"is not {what} in the format {expected}")
    if not isinstance(dtype, pl.Datetime) or dtype.time_unit == "ns":
        return plain
    unit = dtype.time_unit
    regex = fmt.regex if fmt else _DATETIME_RE
    if fmt is None:
        digits = v.str.extract(r"\.([0-9]{1,9})", 1)
    elif "f" in fmt.groups:
        digits = v.str.extract(fmt.regex, fmt.groups["f"])
    else:
        return plain
    finer = digits.str.slice(3 if unit == "ms" else 6).str.contains("[1-9]")
    return (
        pl.when(v.str.contains(regex) & finer.fill_null(False))
        .then(pl.lit(f"has fractional seconds finer than the field's {_UNIT_NAME[unit]}"))
        .otherwise(plain)
    )
