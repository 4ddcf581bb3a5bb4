"""A Pandera contract applied to a whole chunk: (valid rows, quarantined rows).

Steps, all vectorised over the chunk:

1. a required contract column missing from the source quarantines every row ("missing
   column X"); an optional one (``Optional[T]``) is read as null and not checked;
2. each contract column is cast from what the source gave (text, usually) to the
   contract's dtype, exactly or not at all (see `cast.py`, `temporal.py`): a value that
   does not cast is an error for that row, and so is an object where the source flagged
   one (`Chunk.nested`) in a column the contract wants a single value in;
3. Pandera validates the rows that cast, on an eager DataFrame with validation depth
   SCHEMA_AND_DATA (a LazyFrame would run schema checks only and let bad values pass);
   its ``failure_cases`` become per-row errors (column, check, value, message): column
   checks (built-in, regex, string length, custom) name their column, dataframe checks
   that return one boolean per row name the row; a check that returns one boolean for
   the whole chunk cannot be pinned to rows and fails the batch with its name;
4. referenced keys (``metadata={"references": "TABLE.COLUMN"}``) are checked with one
   ``is_in`` per reference against the keys `begin_run` read (see `references.py`);
5. rows with any error are quarantined with their raw record exactly as received
   (extra columns included) and the list of errors; the rest are valid.

Columns the contract does not name are tolerated: kept in the raw record, not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaError, SchemaErrors

from polaretl.core import Connection, LoadContext
from polaretl.errors import ConfigError, ContractError
from polaretl.extract.base import REJECT_SCHEMA, SOURCE_COLUMN, Chunk
from polaretl.validate.base import Split, Validator
from polaretl.validate.cast import ERROR_DTYPE, Cast, cast_column, clean_text
from polaretl.validate.references import Reference, ReferenceSet
from polaretl.validate.temporal import Format, fast_layout

_ROW = "__polaretl_row"
_ERRS = "__polaretl_errors"
_BAD = "__polaretl_failed"  # the row failed a cast
_NESTED = "__polaretl_nested"  # the row held an object where the contract wants a value
_TEXT = "__polaretl_text"  # a text column cleaned for its cast
_VALUE = "__polaretl_value"  # a column's typed value


@dataclass(frozen=True)
class Field:
    """What polaretl needs of one contract column.

    `required` is Pandera's (``Optional[T]`` makes it False: the source may lack the
    column, whose rows then load NULL); `fmt` is a date/time field's explicit format
    (``metadata={"format": ...}``); `allow_non_finite` lets a float field take NaN and
    infinities (``metadata={"allow_non_finite": True}``).
    """

    name: str
    dtype: pl.DataType
    nullable: bool
    unique: bool
    references: str | None
    fmt: Format | None
    required: bool = True
    allow_non_finite: bool = False

    @property
    def null_in_target(self) -> bool:
        """Whether the target column may hold NULL: nullable, or optional (absent)."""
        return self.nullable or not self.required


#: The ``metadata`` keys a contract field may carry.
METADATA = ("references", "format", "allow_non_finite")


def contract_fields(model: type[pa.DataFrameModel]) -> list[Field]:
    """The columns a Pandera model declares, in order.

    Example:
        >>> class M(pa.DataFrameModel):
        ...     a: int = pa.Field(unique=True)
        ...     b: str = pa.Field(nullable=True)
        ...     c: pl.Date = pa.Field(required=False, metadata={"format": "%d/%m/%Y"})
        >>> [(f.name, str(f.dtype), f.nullable, f.required) for f in contract_fields(M)]
        [('a', 'Int64', False, True), ('b', 'String', True, True), ('c', 'Date', False, False)]
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
        where = f"Contract {model.__name__}.{name}"
        if not isinstance(dtype, pl.DataType):
            raise ConfigError(
                f"{where}: dtype {column.dtype} is not a Polars dtype; use "
                "pandera.polars.DataFrameModel with Python or Polars types."
            )
        meta = column.metadata or {}
        fmt = meta.get("format")
        if fmt is not None and not (
            isinstance(fmt, str) and isinstance(dtype, pl.Date | pl.Datetime | pl.Time)
        ):
            raise ConfigError(
                f"{where}: metadata 'format' is a strftime text (e.g. '%d/%m/%Y') for a "
                f"date, datetime or time field, not {fmt!r} on a {dtype} field."
            )
        finite = meta.get("allow_non_finite", False)
        if not isinstance(finite, bool) or (finite and not dtype.is_float()):
            raise ConfigError(
                f"{where}: metadata 'allow_non_finite' is True or False, on a float field."
            )
        fields.append(
            Field(
                name=str(name),
                dtype=dtype,
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                references=meta.get("references"),
                fmt=Format(fmt, dtype, where) if fmt is not None else None,
                required=bool(column.required),
                allow_non_finite=finite,
            )
        )
    # Pandera leaves out annotations starting with "_": a reserved one is named too
    declared = {n for cls in model.__mro__ for n in getattr(cls, "__annotations__", {})}
    _refuse_reserved(model.__name__, [f.name for f in fields] + sorted(declared))
    return fields


#: Column names polaretl adds or works with (lineage columns on every loaded row, the
#: per-row source label, the loader's and the contract's working columns).
RESERVED_PREFIXES = ("_polaretl_", "__polaretl_")


def _refuse_reserved(model: str, names: list[str]) -> None:
    """A contract field named like polaretl's own columns would collide with them after
    the target table exists: refuse it when the pipeline is defined."""
    taken = list(dict.fromkeys(n for n in names if n.startswith(RESERVED_PREFIXES)))
    if taken:
        raise ConfigError(
            f"Contract {model}: field {', '.join(taken)} is named like polaretl's own "
            "columns (prefix _polaretl_ or __polaretl_; every loaded row carries "
            "_polaretl_run_id, _polaretl_source and _polaretl_loaded_at). Rename the field."
        )


class ContractValidator(Validator):
    """Split chunks by a `pandera.polars.DataFrameModel`.

    Args:
        model: the contract.
    """

    def __init__(self, model: type[pa.DataFrameModel]) -> None:
        self.model = model
        self.fields = contract_fields(model)
        self.columns = [f.name for f in self.fields]
        self.required = [f.name for f in self.fields if f.required]
        self.references = ReferenceSet(
            [
                Reference.parse(f.name, f.references, model.__name__)
                for f in self.fields
                if f.references is not None
            ],
            {f.name: f.dtype for f in self.fields},
        )

    def begin_run(self, conn: Connection, ctx: LoadContext) -> None:
        """Read the keys of every referenced table (a missing one is a `ConfigError`)."""
        self.references.load(conn)

    def split(self, chunk: Chunk) -> Split:
        frame = chunk.frame
        base = frame.with_columns(chunk.source_labels()).with_row_index(_ROW)
        nested = {
            f.name: flags.alias(f"{_NESTED}{i}")
            for i, f in enumerate(self.fields)
            if (flags := (chunk.nested or {}).get(f.name)) is not None and flags.any()
        }
        if nested:
            base = base.with_columns(list(nested.values()))
        absent = [f for f in self.fields if f.name not in frame.columns]
        if any(f.required for f in absent):
            return Split(
                valid=self.empty_valid(),
                quarantined=_quarantine_frame(
                    base, frame.columns, self._missing_errors(base, absent, nested)
                ),
            )
        if absent:  # optional columns the source lacks: NULL, and no checks on them
            base = base.with_columns(pl.lit(None, dtype=pl.Null).alias(f.name) for f in absent)
        typed, cast_errors = self._cast(base, list(chunk.null_values), absent, nested)
        cast_ok = typed.filter(~pl.col(_BAD))
        check_errors = self._check(cast_ok, [c for c in self.columns if c in frame.columns])
        reference_errors = self.references.errors(typed, _ROW).rename({"error": _ERRS})
        errors = (
            pl.concat(
                [
                    cast_errors,
                    check_errors,
                    reference_errors,
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

    def _missing_errors(
        self, base: pl.DataFrame, absent: list[Field], nested: dict[str, pl.Series]
    ) -> pl.DataFrame:
        """Every row's errors when required columns are missing: "missing column X", or,
        in a row where X held an object that the source flattened, that reason instead."""
        reasons = []
        for f in absent:
            if not f.required:
                continue
            missing = pl.lit(
                {
                    "column": f.name,
                    "check": "column_in_dataframe",
                    "value": None,
                    "message": f"missing column {f.name}",
                },
                dtype=ERROR_DTYPE,
            )
            if f.name in nested:
                flag = pl.col(nested[f.name].name)
                missing = pl.when(flag).then(_nested_error(f.name)).otherwise(missing)
            reasons.append(missing)
        return (
            base.lazy().select(_ROW, _errors_json(pl.concat_list(reasons)).alias(_ERRS)).collect()
        )

    def empty_valid(self) -> pl.DataFrame:
        return pl.DataFrame(
            schema={**{f.name: f.dtype for f in self.fields}, SOURCE_COLUMN: pl.String()}
        )

    def _cast(
        self,
        base: pl.DataFrame,
        null_values: list[str],
        absent: list[Field],
        nested: dict[str, pl.Series],
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The typed chunk (``_ROW``, source, contract columns) and the cast errors,
        one (``_ROW``, error) row per failure.

        Error structs are built for the failed rows only: on a clean chunk that is
        nothing, and building them for every row cost as much as the casts themselves.
        """
        casts = []
        texts: list[pl.Expr] = []  # each text column cleaned once, then parsed
        for i, f in enumerate(self.fields):
            source_dtype = base.schema[f.name]
            layout = text = None
            if source_dtype == pl.String and f.dtype != pl.String:
                text = f"{_TEXT}{i}"
                texts.append(clean_text(f.name, null_values).alias(text))
            if f.fmt is None and isinstance(f.dtype, pl.Datetime) and source_dtype == pl.String:
                # a chunk whose datetimes share one fixed layout takes Polars' fast path
                layout = fast_layout(_text(base[f.name], null_values), f.dtype.time_unit)
            cast = cast_column(
                f.name,
                source_dtype,
                f.dtype,
                null_values,
                f.fmt,
                f.nullable or f in absent,
                allow_non_finite=f.allow_non_finite,
                layout=layout,
                text=text,
            )
            if f.name in nested:
                cast = _nested(cast, f.name, pl.col(nested[f.name].name))
            casts.append(cast)
        flags = [f"{_BAD}{i}" for i in range(len(casts))]
        values = [f"{_VALUE}{i}" for i in range(len(casts))]
        # in stages: a parse refers to its text, and `failed` to the value, many times;
        # Polars would compute a shared sub-expression again for each reference
        typed = (
            base.lazy()
            .with_columns(texts)
            .with_columns(c.value.alias(v) for c, v in zip(casts, values, strict=True))
            .select(
                _ROW,
                SOURCE_COLUMN,
                *(pl.col(v).alias(f.name) for v, f in zip(values, self.fields, strict=True)),
                *(
                    c.failed(pl.col(v)).alias(flag)
                    for c, v, flag in zip(casts, values, flags, strict=True)
                ),
            )
            .with_columns(pl.any_horizontal(pl.lit(False), *flags).alias(_BAD))
            .collect()
        )
        failed = typed[_BAD]  # typed keeps base's row order
        errors = (
            base.filter(failed)
            .with_columns(typed.filter(failed).select(flags))
            .lazy()
            .select(
                _ROW,
                pl.concat_list(
                    [c.error(pl.col(flag)) for c, flag in zip(casts, flags, strict=True)]
                    or [pl.lit(None, dtype=ERROR_DTYPE)]
                ).alias(_ERRS),
            )
            .explode(_ERRS)
            .drop_nulls(_ERRS)
            .collect()
        )
        if errors[_ROW].n_unique() != failed.sum():  # pragma: no cover - a bug guard
            raise ContractError(
                "polaretl flagged rows as failing a cast but found no reason for some; "
                "this is a bug: please report it with the contract.",
            )
        typed = typed.drop(flags)
        return typed, errors

    def _check(self, rows: pl.DataFrame, present: list[str]) -> pl.DataFrame:
        """Pandera on the rows that cast (the `present` columns: an optional column the
        source lacks is not checked); its failure cases as (row, error) pairs."""
        empty = pl.DataFrame(schema={_ROW: pl.UInt32, _ERRS: ERROR_DTYPE})
        if rows.height == 0:
            return empty
        cases = self._failure_cases(rows.select(present))
        if cases is None:
            return empty
        if "index" not in cases.columns or cases["index"].null_count():
            unpinned = (
                cases.filter(pl.col("index").is_null()) if "index" in cases.columns else cases
            )
            self._fail_batch(unpinned)
        ids = rows[_ROW]
        frame_level = pl.col("schema_context") == "DataFrameSchema"
        # a dataframe check names the model as its "column": no column is to blame
        col = pl.when(frame_level).then(pl.lit(None, pl.String)).otherwise(pl.col("column"))
        value = pl.col("failure_case")
        quoted = (
            pl.when(value.is_null())
            .then(pl.lit("null"))
            .otherwise(pl.concat_str(pl.lit("'"), value, pl.lit("'")))
        )
        message = (
            pl.when(frame_level)
            .then(
                pl.concat_str(
                    pl.lit("row "), value.fill_null("null"), pl.lit(" fails "), pl.col("check")
                )
            )
            .otherwise(
                pl.concat_str(
                    pl.lit("column "), col, pl.lit(": "), quoted, pl.lit(" fails "), pl.col("check")
                )
            )
        )
        return (
            cases.lazy()
            .with_columns(pl.col("schema_context").fill_null("Column"))
            .select(
                pl.col("index")
                .cast(pl.Int64)
                .map_batches(lambda idx: ids.gather(idx), return_dtype=pl.UInt32)
                .alias(_ROW),
                pl.struct(column=col, check=pl.col("check"), value=value, message=message).alias(
                    _ERRS
                ),
            )
            .collect()
        )

    def _failure_cases(self, frame: pl.DataFrame) -> pl.DataFrame | None:
        """Pandera's failure cases for `frame` (None: every check passed)."""
        try:
            with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
                self.model.validate(frame, lazy=True)
            return None
        except SchemaErrors as exc:
            return exc.failure_cases  # type: ignore[no-any-return]
        except SchemaError as exc:  # raised instead of SchemaErrors by some checks
            if exc.failure_cases is None or not isinstance(exc.failure_cases, pl.DataFrame):
                raise ContractError(f"Contract {self.model.__name__} failed: {exc}") from exc
            return exc.failure_cases
        except pl.exceptions.PolarsError:
            # Pandera cannot stack a whole-chunk failure (a boolean failure case) with
            # per-row ones (text): the batch fails anyway; find the checks to name them.
            unpinned = self._whole_chunk_failures(frame)
            if unpinned.height == 0:
                raise
            self._fail_batch(unpinned)

    def _whole_chunk_failures(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Run each check alone; keep the failures that name no row (cold path)."""
        schema = self.model.to_schema()
        singles: list[tuple[str, pa.DataFrameSchema]] = [
            (name, pa.DataFrameSchema({name: pa.Column(col.dtype, checks=[c], nullable=True)}))
            for name, col in schema.columns.items()
            for c in col.checks
        ]
        singles += [(self.model.__name__, pa.DataFrameSchema(checks=[c])) for c in schema.checks]
        found = []
        for name, single in singles:
            try:
                with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
                    single.validate(frame.select(list(single.columns) or self.columns), lazy=True)
            except SchemaErrors as exc:
                cases = exc.failure_cases.filter(pl.col("index").is_null())
                found.append(
                    cases.select(
                        pl.lit(name).alias("column"),
                        pl.col("check"),
                        pl.col("failure_case").cast(pl.String),
                        pl.col("schema_context"),
                    )
                )
        return pl.concat(found) if found else pl.DataFrame()

    def _fail_batch(self, unpinned: pl.DataFrame) -> NoReturn:
        def where(case: dict[str, Any]) -> str:
            if case.get("schema_context") == "DataFrameSchema":
                return "dataframe check"
            return f"column {case.get('column') or '?'}:"

        reasons = "; ".join(
            f"{where(c)} {c.get('check')} ({c.get('failure_case')})"
            for c in unpinned.head(5).to_dicts()
        )
        raise ContractError(
            f"Contract {self.model.__name__} failed for the batch as a whole: {reasons}. "
            "Such checks cannot be pinned to rows, so the batch is not loaded; fix the "
            "source or the contract.",
            failure_cases=reasons,
        )


def _text(values: pl.Series, null_values: list[str]) -> pl.Series:
    """A text column's values as the cast reads them: null values out, trimmed."""
    return values.filter(values.is_not_null() & ~values.is_in(null_values)).str.strip_chars()


def _nested_error(name: str) -> pl.Expr:
    return pl.lit(
        {
            "column": name,
            "check": "nested_value",
            "value": None,
            "message": f"column {name}: the source holds an object here (flattened into "
            f"{name}<separator><key> columns), not a single value",
        },
        dtype=ERROR_DTYPE,
    )


def _nested(cast: Cast, name: str, flag: pl.Expr) -> Cast:
    """`cast` failing, with the nested-value reason, in the rows `flag` marks."""
    return Cast(
        pl.when(flag).then(None).otherwise(cast.value).alias(name),
        lambda value: cast.failed(value) | flag,
        lambda failed: pl.when(flag).then(_nested_error(name)).otherwise(cast.error(failed)),
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
