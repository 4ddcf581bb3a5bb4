"""Cheap type inference for text columns, and value sketches, for schema drift.

Sources mostly deliver text (CSV, XML, dumps). A column's *type family* is inferred
from a sample of its values with vectorised casts, all columns in one pass:

    null (no value) < integer < float < boolean < date < datetime < text

the first family every non-null sampled value casts to (so ``"12"`` is integer,
``"12.5"`` float, ``"2026-01-02"`` date, ``"yes"`` boolean, ``"C-42"`` text); dates and
datetimes are ISO 8601, as a contract reads them by default (``"02/01/2026"`` is text).
Typed sources (Parquet, SQL) give their dtype's family directly.

A *sketch* of a column is a few hashed values (the smallest distinct ones), enough to
tell whether a column that appeared carries the values of one that disappeared (a
probable rename) without storing the values themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl

from polaretl.validate import temporal

FAMILIES = ("null", "integer", "float", "boolean", "date", "datetime", "text")
SAMPLE = 1_000
SKETCH = 16
_BOOLEAN = ["true", "false", "t", "f", "yes", "no", "y", "n"]
# what each family's values also fit into (besides itself and text)
_FITS = {
    "integer": {"float"},
    "date": {"datetime"},
}


def fits(seen: str, recorded: str) -> bool:
    """Whether values of family `seen` fit a column recorded as `recorded`.

    Example:
        >>> fits("integer", "float"), fits("float", "integer"), fits("null", "date")
        (True, False, True)
    """
    return seen in (recorded, "null") or recorded == "text" or recorded in _FITS.get(seen, ())


def family(dtype: pl.DataType) -> str:
    """The family of a typed column.

    Example:
        >>> family(pl.Int32()), family(pl.Datetime("us", "UTC")), family(pl.List(pl.Int8()))
        ('integer', 'datetime', 'list[i8]')
    """
    if isinstance(dtype, pl.Null):
        return "null"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "float"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return "text"
    return dtype._string_repr()


def infer_types(
    frame: pl.DataFrame, null_values: Sequence[str] = (), sample: int = SAMPLE
) -> dict[str, str]:
    """Each column's family, from the first `sample` rows.

    Example:
        >>> df = pl.DataFrame({"a": ["1", "2"], "b": ["1.5", "NA"], "c": ["2026-01-02", None],
        ...                    "d": ["x", "1"], "e": pl.Series([None, None], dtype=pl.String)})
        >>> infer_types(df, null_values=["NA"])
        {'a': 'integer', 'b': 'float', 'c': 'date', 'd': 'text', 'e': 'null'}
    """
    head = frame.head(sample)
    out = {name: family(dtype) for name, dtype in head.schema.items()}
    texts = [n for n, t in head.schema.items() if isinstance(t, pl.String)]
    if not texts:
        return out
    exprs = []
    for i, name in enumerate(texts):
        value = _value(name, null_values)
        exprs += [
            value.count().alias(f"{i}:n"),
            value.cast(pl.Int64, strict=False).count().alias(f"{i}:integer"),
            value.cast(pl.Float64, strict=False).count().alias(f"{i}:float"),
            value.str.to_lowercase().is_in(_BOOLEAN).sum().alias(f"{i}:boolean"),
        ]
    counts = head.select(exprs).row(0, named=True)
    for i, name in enumerate(texts):
        n = counts[f"{i}:n"]
        if n == 0:
            out[name] = "null"
            continue
        found = next((f for f in ("integer", "float", "boolean") if counts[f"{i}:{f}"] == n), None)
        out[name] = found or _temporal(head, name, null_values, n)
    return out


def _value(name: str, null_values: Sequence[str]) -> pl.Expr:
    value = pl.col(name).str.strip_chars()
    if null_values:
        value = pl.when(pl.col(name).is_in(list(null_values))).then(None).otherwise(value)
    return value


def _temporal(head: pl.DataFrame, name: str, null_values: Sequence[str], n: int) -> str:
    """date, datetime or text: whether every value is an ISO 8601 date or datetime, as
    the contract reads them by default (see `temporal`), never a format guessed."""
    value = _value(name, null_values)
    counts = head.select(
        temporal.iso_date(value).count().alias("date"),
        temporal.iso_datetime(value, "us").count().alias("datetime"),
    ).row(0, named=True)
    return next((fam for fam in ("date", "datetime") if counts[fam] == n), "text")


def sketch(frame: pl.DataFrame, name: str, size: int = SKETCH, sample: int = SAMPLE) -> list[str]:
    """Hashes of the `size` smallest distinct values of a column (in its first rows).

    Example:
        >>> sketch(pl.DataFrame({"a": ["b", "a", "b", None]}), "a")
        ['...', '...']
    """
    values = (
        frame.head(sample)
        .select(pl.col(name).cast(pl.String).drop_nulls().unique().sort().head(size))
        .to_series()
        .to_list()
    )
    return [_hash(v) for v in values]


def overlap(frame: pl.DataFrame, name: str, hashes: Sequence[str], sample: int = SAMPLE) -> float:
    """The share of a recorded sketch found among a column's values (0 when no sketch).

    Example:
        >>> df = pl.DataFrame({"new": ["a", "b", "c"]})
        >>> overlap(df, "new", sketch(pl.DataFrame({"old": ["a", "b"]}), "old"))
        1.0
    """
    if not hashes:
        return 0.0
    values = frame.head(sample).select(pl.col(name).cast(pl.String).drop_nulls().unique())
    seen = {_hash(v) for v in values.to_series().to_list()}  # cold path: only renames
    return sum(h in seen for h in hashes) / len(hashes)


def _hash(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()
