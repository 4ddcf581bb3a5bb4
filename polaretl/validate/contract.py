"""A Pandera contract applied to a whole chunk: (valid rows, quarantined rows).

Steps, all vectorised over the chunk:

1. a contract column missing from the source quarantines every row ("missing column X");
2. each contract column is cast from what the source gave (text, usually) to the
   contract's dtype; a value that does not cast is an error for that row;
3. Pandera validates the rows that cast, on an eager DataFrame with validation depth
   SCHEMA_AND_DATA (a LazyFrame would run schema checks only and let bad values pass);
   its ``failure_cases`` become per-row errors (column, check, value, message);
4. rows with any error are quarantined with their raw record exactly as received
   (extra columns included) and the list of errors; the rest are valid.

Columns the contract does not name are tolerated: kept in the raw record, not loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaError, SchemaErrors

from polaretl.errors import ConfigError, ContractError
from polaretl.extract.base import REJECT_SCHEMA, SOURCE_COLUMN, Chunk
from polaretl.validate.base import Split, Validator
from polaretl.validate.cast import ERROR_DTYPE, cast_column

_ROW = "__polaretl_row"
_ERRS = "__polaretl_errors"


@dataclass(frozen=True)
class Field:
    """What polaretl needs of one contract column."""

    name: str
    dtype: pl.DataType
    nullable: bool
    unique: bool
    references: str | None
    fmt: str | None


def contract_fields(model: type[pa.DataFrameModel]) -> list[Field]:
    """The columns a Pandera model declares, in order.

    Example:
        >>> class M(pa.DataFrameModel):
        ...     a: int = pa.Field(unique=True)
        ...     b: str = pa.Field(nullable=True)
        >>> [(f.name, str(f.dtype), f.nullable) for f in contract_fields(M)]
        [('a', 'Int64', False), ('b', 'String', True)]
    """
    try:
        schema = model.to_schema()
    except Exception as exc:  # pandera raises many kinds while building a schema
        raise ConfigError(
            f"The contract {model.__name__} is not a valid Pandera model: {exc}"
        ) from exc
    fields = []
    for name, column in schema.columns.items():
        dtype = getattr(column.dtype, "type", None)
        if isinstance(dtype, type) and issubclass(dtype, pl.DataType):
            dtype = dtype()
        if not isinstance(dtype, pl.DataType):
            raise ConfigError(
                f"Contract {model.__name__}.{name}: dtype {column.dtype} is not a Polars "
                "dtype; use pandera.polars.DataFrameModel with Python or Polars types."
            )
        meta = column.metadata or {}
        fields.append(
            Field(
                name=str(name),
                dtype=dtype,
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                references=meta.get("references"),
                fmt=meta.get("format"),
            )
        )
    return fields


class ContractValidator(Validator):
    """Split chunks by a `pandera.polars.DataFrameModel`.

    Args:
        model: the contract.
    """

    def __init__(self, model: type[pa.DataFrameModel]) -> None:
        self.model = model
        self.fields = contract_fields(model)
        self.columns = [f.name for f in self.fields]

    def split(self, chunk: Chunk) -> Split:
        frame = chunk.frame
        base = frame.with_columns(chunk.source_labels()).with_row_index(_ROW)
        missing = [f.name for f in self.fields if f.name not in frame.columns]
        if missing:
            errors = [
                {
                    "column": m,
                    "check": "column_in_dataframe",
                    "value": None,
                    "message": f"missing column {m}",
                }
                for m in missing
            ]
            errs = pl.lit(json.dumps(errors))
            return Split(
                valid=self.empty_valid(),
                quarantined=_quarantine_frame(
                    base, frame.columns, base.select(_ROW, errs.alias(_ERRS))
                ),
            )
        typed = self._cast(base, list(chunk.null_values))
        cast_ok = typed.filter(pl.col(_ERRS).list.len() == 0)
        check_errors = self._check(cast_ok)
        errors = (
            pl.concat(
                [
                    typed.select(_ROW, pl.col(_ERRS)).explode(_ERRS).drop_nulls(_ERRS),
                    check_errors,
                ],
                how="vertical",
            )
            .group_by(_ROW, maintain_order=True)
            .agg(pl.col(_ERRS))
            .with_columns(_errors_json(pl.col(_ERRS)).alias(_ERRS))
        )
        valid = cast_ok.join(errors.select(_ROW), on=_ROW, how="anti", maintain_order="left")
        return Split(
            valid=valid.select(*self.columns, SOURCE_COLUMN),
            quarantined=_quarantine_frame(base, frame.columns, errors),
        )

    def empty_valid(self) -> pl.DataFrame:
        return pl.DataFrame(
            schema={**{f.name: f.dtype for f in self.fields}, SOURCE_COLUMN: pl.String()}
        )

    def _cast(self, base: pl.DataFrame, null_values: list[str]) -> pl.DataFrame:
        typed, errors = [], []
        for f in self.fields:
            value, error = cast_column(
                f.name, base.schema[f.name], f.dtype, null_values, f.fmt, f.nullable
            )
            typed.append(value)
            errors.append(error)
        errs = (
            pl.concat_list(errors).list.drop_nulls()
            if errors
            else pl.lit([], dtype=pl.List(ERROR_DTYPE))
        )
        return base.lazy().select(_ROW, SOURCE_COLUMN, *typed, errs.alias(_ERRS)).collect()

    def _check(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Pandera on the rows that cast; its failure cases as (row, error) pairs."""
        empty = pl.DataFrame(schema={_ROW: pl.UInt32, _ERRS: ERROR_DTYPE})
        if rows.height == 0:
            return empty
        try:
            with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
                self.model.validate(rows.select(self.columns), lazy=True)
            return empty
        except SchemaErrors as exc:
            cases = exc.failure_cases
        except SchemaError as exc:  # raised instead of SchemaErrors by some checks
            if exc.failure_cases is None or not isinstance(exc.failure_cases, pl.DataFrame):
                raise ContractError(f"Contract {self.model.__name__} failed: {exc}") from exc
            cases = exc.failure_cases
        if "index" not in cases.columns or cases["index"].null_count():
            unpinned = (
                cases.filter(pl.col("index").is_null()) if "index" in cases.columns else cases
            )
            reasons = "; ".join(
                f"{c.get('column') or 'dataframe'}: {c.get('check')} ({c.get('failure_case')})"
                for c in unpinned.head(5).to_dicts()
            )
            raise ContractError(
                f"Contract {self.model.__name__} failed for the batch as a whole: {reasons}. "
                "Such checks cannot be pinned to rows, so the batch is not loaded; fix the "
                "source or the contract.",
                failure_cases=reasons,
            )
        ids = rows[_ROW]
        col = pl.col("column").fill_null("dataframe")
        value = pl.col("failure_case")
        return (
            cases.lazy()
            .select(
                pl.col("index")
                .cast(pl.Int64)
                .map_batches(lambda idx: ids.gather(idx), return_dtype=pl.UInt32)
                .alias(_ROW),
                pl.struct(
                    column=col,
                    check=pl.col("check"),
                    value=value,
                    message=pl.concat_str(
                        pl.lit("column "),
                        col,
                        pl.lit(": "),
                        pl.when(value.is_null())
                        .then(pl.lit("null"))
                        .otherwise(pl.concat_str(pl.lit("'"), value, pl.lit("'"))),
                        pl.lit(" fails "),
                        pl.col("check"),
                    ),
                ).alias(_ERRS),
            )
            .collect()
        )


def _errors_json(errors: pl.Expr) -> pl.Expr:
    """A list of error structs as JSON text: ``[{"column": ..., ...}, ...]``."""
    return pl.concat_str(
        pl.lit("["),
        errors.list.eval(pl.element().struct.json_encode()).list.join(","),
        pl.lit("]"),
    )


def _quarantine_frame(
    base: pl.DataFrame, raw_columns: list[str], errors: pl.DataFrame
) -> pl.DataFrame:
    """Quarantine rows: source label, raw record as JSON (all source columns), errors."""
    if errors.height == 0:
        return pl.DataFrame(schema=REJECT_SCHEMA)
    bad = base.join(errors, on=_ROW, how="inner", maintain_order="left")
    raw: Any = pl.struct(raw_columns).struct.json_encode() if raw_columns else pl.lit("{}")
    return bad.select(
        pl.col(SOURCE_COLUMN).alias("source"),
        raw.alias("raw"),
        pl.col(_ERRS).alias("errors"),
    )
