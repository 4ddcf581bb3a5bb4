"""Cast source columns (usually text) to a contract's dtypes, as Polars expressions.

A value that does not cast becomes null in the typed column and an error struct
(column, check, value, message) beside it, so the row is quarantined with a reason
instead of crashing the run. Everything is vectorised; nothing loops over rows.

A cast is exact or it fails: a decimal is never rounded to its scale, a float never
overflows to infinity or underflows to 0 (and is finite unless the field allows NaN and
infinities), a date or datetime is read by its field's one format (`temporal.py`), a
typed value must cast back to itself. docs/values.md is the user's side of this.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import polars as pl

from polaretl.errors import ContractError
from polaretl.validate import temporal

#: The struct every per-row error has, in quarantine and in reports.
ERROR_DTYPE = pl.Struct(
    {"column": pl.String, "check": pl.String, "value": pl.String, "message": pl.String}
)

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def _noun(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "an integer"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "a number"
    if isinstance(dtype, pl.Boolean):
        return "a boolean"
    if isinstance(dtype, pl.Datetime):
        return "a datetime"
    if isinstance(dtype, pl.Date):
        return "a date"
    if isinstance(dtype, pl.Time):
        return "a time"
    return f"a valid {dtype}"


def text_cast(
    expr: pl.Expr,
    dtype: pl.DataType,
    fmt: temporal.Format | None = None,
    *,
    allow_non_finite: bool = False,
    layout: str | None = None,
) -> pl.Expr:
    """Parse a text expression into `dtype`; a value that does not parse *exactly* is null.

    Surrounding whitespace is ignored. Integers and floats take what Polars' cast takes
    (``+5``, ``007``; ``1.5e3``, ``.5``); a float that overflows to infinity or underflows
    to 0 does not parse, nor NaN and infinities unless `allow_non_finite`. A decimal is
    digits with an optional sign and point, with no more digits than the dtype's
    precision and scale allow (trailing zeros of the fraction do not count: ``1.500`` is
    exactly 1.50): nothing is rounded. Dates, datetimes and times: see `temporal`.

    Example:
        >>> df = pl.DataFrame({"x": ["1", " 2 ", "abc", None]})
        >>> df.select(text_cast(pl.col("x"), pl.Int64())).to_series().to_list()
        [1, 2, None, None]
        >>> d = pl.DataFrame({"x": ["1.999", "1.500", "123.45", "1e2"]})
        >>> d.select(text_cast(pl.col("x"), pl.Decimal(12, 2))).to_series().to_list()
        [None, Decimal('1.50'), Decimal('123.45'), None]
        >>> f = pl.DataFrame({"x": ["NaN", "1e400", "-inf", "2.5"]})
        >>> f.select(text_cast(pl.col("x"), pl.Float64())).to_series().to_list()
        [None, None, None, 2.5]
    """
    if isinstance(dtype, pl.String):
        return expr
    return _parse(expr.str.strip_chars(), dtype, fmt, allow_non_finite, layout)


def _parse(
    trimmed: pl.Expr,
    dtype: pl.DataType,
    fmt: temporal.Format | None,
    allow_non_finite: bool,
    layout: str | None,
) -> pl.Expr:
    """`text_cast` of text already trimmed (and without null values)."""
    if isinstance(dtype, pl.Boolean):
        low = trimmed.str.to_lowercase()
        return (
            pl.when(low.is_in(_TRUE))
            .then(pl.lit(True))
            .when(low.is_in(_FALSE))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, dtype=pl.Boolean))
        )
    if isinstance(dtype, pl.Datetime | pl.Date | pl.Time):
        return temporal.parse(trimmed, dtype, fmt, layout)
    if isinstance(dtype, pl.Decimal):
        return pl.when(trimmed.str.contains(_decimal_regex(dtype))).then(
            trimmed.cast(dtype, strict=False)
        )
    if dtype.is_float():
        parsed = trimmed.cast(dtype, strict=False)
        return pl.when(_float_ok(trimmed, parsed, allow_non_finite)).then(parsed)
    if dtype.is_integer():
        return trimmed.cast(dtype, strict=False)
    raise ContractError(
        f"polaretl cannot parse text into {dtype}; use a str field and a transform, "
        "or a source that delivers typed values.",
        dtype=str(dtype),
    )


def _precision(dtype: pl.Decimal) -> tuple[int, int]:
    return (dtype.precision or 38), (dtype.scale or 0)


def _decimal_regex(dtype: pl.Decimal) -> str:
    """Text of a number that `dtype` holds exactly: at most precision - scale integer
    digits (leading zeros aside), at most scale fraction digits (trailing zeros aside).

    Example:
        >>> _decimal_regex(pl.Decimal(12, 2))
        '^[+-]?0*[0-9]{0,10}(?:[.][0-9]{0,2}0*)?$'
    """
    precision, scale = _precision(dtype)
    return rf"^[+-]?0*[0-9]{{0,{precision - scale}}}(?:[.][0-9]{{0,{scale}}}0*)?$"


def _float_ok(text: pl.Expr, parsed: pl.Expr, allow_non_finite: bool) -> pl.Expr:
    """Whether a parsed float is the number its text says: not an overflow to infinity,
    not an underflow of a non-zero mantissa to 0, and finite unless allowed."""
    finite = parsed.is_finite()
    if allow_non_finite:
        finite = finite | text.str.contains(r"(?i)^[+-]?(nan|inf|infinity)$")
    underflow = (parsed == 0) & text.str.contains(r"^[^eE]*[1-9]")
    return finite & ~underflow


def _reason(expr: pl.Expr, dtype: pl.DataType, fmt: temporal.Format | None) -> pl.Expr:
    """Why a text value did not parse into `dtype` (for failed rows only: it may cost)."""
    trimmed = expr.str.strip_chars()
    if isinstance(dtype, pl.Datetime | pl.Date | pl.Time):
        return temporal.reason(trimmed, dtype, fmt)
    if isinstance(dtype, pl.Decimal):
        precision, scale = _precision(dtype)
        plain = trimmed.str.contains(r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)$")
        digits = trimmed.str.strip_chars_start("+-")
        point = digits.str.find(".", literal=True).fill_null(digits.str.len_bytes())
        whole = digits.str.slice(0, point).str.strip_chars_start("0").str.len_bytes()
        places = digits.str.slice(point + 1).str.strip_chars_end("0").str.len_bytes()
        return (
            pl.when(~plain)
            .then(pl.lit("is not a decimal number (digits, with an optional sign and point)"))
            .when(places > scale)
            .then(pl.format("has {} decimal places; the contract allows {}", places, pl.lit(scale)))
            .otherwise(
                pl.format(
                    "has {} digits before the decimal point; the contract allows {} ({})",
                    whole,
                    pl.lit(precision - scale),
                    pl.lit(str(dtype)),
                )
            )
        )
    if dtype.is_float():
        parsed = trimmed.cast(dtype, strict=False)
        return (
            pl.when(parsed.is_nan() | (parsed.is_infinite() & trimmed.str.contains("(?i)inf")))
            .then(
                pl.lit(
                    "is not a finite number; a float field takes NaN and infinities only "
                    "with metadata={'allow_non_finite': True}"
                )
            )
            .when(parsed.is_infinite())
            .then(pl.lit(f"is too large for {dtype} (it would load as infinity)"))
            .when(parsed == 0)
            .then(pl.lit(f"is too small for {dtype} (it would load as 0)"))
            .otherwise(pl.lit("is not a number"))
        )
    if dtype.is_integer():
        low, high = _int_range(dtype)
        return (
            pl.when(trimmed.str.contains(r"^[+-]?[0-9]+$"))
            .then(pl.lit(f"is outside the range of {dtype} ({low} to {high})"))
            .otherwise(pl.lit("is not an integer"))
        )
    return pl.lit(f"is not {_noun(dtype)}")


def _int_range(dtype: pl.DataType) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype.

    Example:
        >>> _int_range(pl.Int32()), _int_range(pl.UInt8())
        ((-2147483648, 2147483647), (0, 255))
    """
    bits = {"8": 8, "16": 16, "32": 32, "64": 64, "128": 128}[str(dtype).strip("IUnt")]
    if dtype.is_signed_integer():
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


class Cast(NamedTuple):
    """A column's cast as expressions: the typed value, `failed(value)` whether the row
    failed given that value as computed (materialise it first: Polars does not share a
    sub-expression between two outputs, and a parse is the costly part), and
    `error(flag)`, the error struct given that flag (so the reason, which may cost more
    than the cast, is built only for failed rows)."""

    value: pl.Expr
    failed: Callable[[pl.Expr], pl.Expr]
    error: Callable[[pl.Expr], pl.Expr]


def typed_cast(expr: pl.Expr, source_dtype: pl.DataType, dtype: pl.DataType) -> pl.Expr:
    """Cast a typed (not text) column; a value that would change becomes null (a failed
    cast, so its row is quarantined): a number or time is cast back to its source type
    and must come back equal, so an out-of-range number, a fraction cut off by an
    integer or a coarser decimal (a plain cast makes 1.5 an integer 1 and 1.999 a
    Decimal(12, 2) 2.00), an integer a float cannot hold, nanoseconds a microsecond
    datetime would drop, all fail.

    Example:
        >>> df = pl.DataFrame({"x": [1.0, 1.5, 3e10, None]})
        >>> df.select(typed_cast(pl.col("x"), pl.Float64(), pl.Int32())).to_series().to_list()
        [1, None, None, None]
        >>> d = pl.DataFrame({"x": [1.999, 2.5]})
        >>> d.select(typed_cast(pl.col("x"), pl.Float64(), pl.Decimal(12, 2))).to_series().to_list()
        [None, Decimal('2.50')]
    """
    cast = expr.cast(dtype, strict=False)
    if (
        _comparable(source_dtype)
        and _comparable(dtype)
        and (source_dtype.is_numeric() == dtype.is_numeric())
    ):
        return pl.when(cast.cast(source_dtype, strict=False) == expr).then(cast)
    return cast


def _comparable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or isinstance(dtype, pl.Date | pl.Datetime | pl.Time)


def clean_text(name: str, null_values: list[str]) -> pl.Expr:
    """Text column `name` as a cast reads it: the null values null, the rest trimmed.

    Example:
        >>> pl.DataFrame({"x": [" 1 ", "NA", None]}).select(clean_text("x", ["NA"])).rows()
        [('1',), (None,), (None,)]
    """
    src = pl.col(name)
    if null_values:
        src = pl.when(src.is_in(null_values)).then(pl.lit(None, dtype=pl.String)).otherwise(src)
    return src.str.strip_chars()


def cast_column(
    name: str,
    source_dtype: pl.DataType,
    dtype: pl.DataType,
    null_values: list[str],
    fmt: temporal.Format | None = None,
    nullable: bool = True,
    *,
    allow_non_finite: bool = False,
    layout: str | None = None,
    text: str | None = None,
) -> Cast:
    """The typed value of column `name`, whether it failed, and its error struct.

    `null_values` (e.g. ``["", "NA"]``) are read as null before casting text; a null
    in a column that is not `nullable` is an error too. `fmt` is a date/time field's
    explicit format; `allow_non_finite` lets a float field take NaN and infinities;
    `layout`: see `temporal.fast_layout`; `text`: a column holding `clean_text(name)`
    already (a parse refers to its text many times: computed once, it costs once).

    Example:
        >>> df = pl.DataFrame({"x": ["1", "abc", ""]})
        >>> c = cast_column("x", pl.String(), pl.Int64(), [""], nullable=False)
        >>> df.select(c.value, c.failed(c.value).alias("failed")).rows()
        [(1, False), (None, True), (None, True)]
        >>> flags = df.select(c.failed(c.value).alias("f"))["f"]
        >>> df.with_columns(f=flags).select(c.error(pl.col("f")).struct.field("message")).rows()
        [(None,), ("column x: 'abc' is not an integer",), ('column x: null is not allowed',)]
    """
    src = pl.col(name)
    if isinstance(source_dtype, pl.String) and null_values:
        src = pl.when(src.is_in(null_values)).then(pl.lit(None, dtype=pl.String)).otherwise(src)
    present = src.is_not_null()
    reason: pl.Expr = pl.lit(f"is not {_noun(dtype)}")
    if isinstance(source_dtype, pl.String) and not isinstance(dtype, pl.String):
        trimmed = pl.col(text) if text is not None else clean_text(name, null_values)
        typed = _parse(trimmed, dtype, fmt, allow_non_finite, layout)
        present = trimmed.is_not_null()
        reason = _reason(src, dtype, fmt)
    elif source_dtype == dtype:
        typed = src
    elif isinstance(source_dtype, pl.Null):
        typed = src.cast(dtype)
    else:
        typed = typed_cast(src, source_dtype, dtype)
    if dtype.is_float() and not isinstance(source_dtype, pl.String) and not allow_non_finite:
        typed = pl.when(typed.is_finite()).then(typed)
        reason = (
            pl.when(src.cast(dtype, strict=False).is_finite())
            .then(reason)
            .otherwise(
                pl.lit(
                    "is not a finite number; a float field takes NaN and infinities only "
                    "with metadata={'allow_non_finite': True}"
                )
            )
        )
    error = partial(_error, name, src, dtype, reason)
    if typed is src:
        return Cast(src.alias(name), lambda _: ~present if not nullable else pl.lit(False), error)

    def failed(value: pl.Expr) -> pl.Expr:
        cast_failed = present & value.is_null()
        return cast_failed if nullable else cast_failed | ~present

    return Cast(typed.alias(name), failed, error)


def _error(name: str, src: pl.Expr, dtype: pl.DataType, reason: pl.Expr, flag: pl.Expr) -> pl.Expr:
    """The error struct of a failed cell: not castable (and why), or null where null is
    refused."""
    value = src.cast(pl.String)
    return (
        pl.when(flag & src.is_not_null())
        .then(
            pl.struct(
                column=pl.lit(name),
                check=pl.lit(f"dtype('{dtype}')"),
                value=value,
                message=pl.concat_str(pl.lit(f"column {name}: '"), value, pl.lit("' "), reason),
            )
        )
        .when(flag)
        .then(
            pl.struct(
                column=pl.lit(name),
                check=pl.lit("not_nullable"),
                value=pl.lit(None, dtype=pl.String),
                message=pl.lit(f"column {name}: null is not allowed"),
            )
        )
        .otherwise(pl.lit(None, dtype=ERROR_DTYPE))
    )
