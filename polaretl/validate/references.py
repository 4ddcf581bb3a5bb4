"""Referential constraints: ``pa.Field(metadata={"references": "TABLE.COLUMN"})``.

The referenced keys are read once per run (`ReferenceSet.load`, from
`Validator.begin_run`, which has a connection) into a Polars Series; each chunk is then
checked with one vectorised ``is_in`` in the background thread that validates chunks
(it has no connection). A null passes (nullability is the cast's business), a value that
is not among the keys is an error: ``customer_id 42 not found in customers.customer_id``.

The key set is a snapshot taken when the run starts: keys another pipeline loads while
this run is going are seen by the next run (or a ``polaretl quarantine replay``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from polaretl.core import Connection, qualified
from polaretl.errors import ConfigError, ContractError
from polaretl.validate.cast import ERROR_DTYPE, text_cast


@dataclass(frozen=True)
class Reference:
    """One declared reference: contract column `column` -> `table`.`target`.

    Example:
        >>> r = Reference.parse("customer_id", "sales.customers.customer_id", "Order")
        >>> r.table, r.target, r.label
        ('sales.customers', 'customer_id', 'sales.customers.customer_id')
    """

    column: str
    table: str
    target: str
    model: str = ""

    @classmethod
    def parse(cls, column: str, spec: object, model: str = "") -> Reference:
        if not isinstance(spec, str) or spec.count(".") not in (1, 2) or "" in spec.split("."):
            raise ConfigError(
                f"Contract {model}.{column}: metadata references={spec!r} must be "
                "'TABLE.COLUMN' or 'SCHEMA.TABLE.COLUMN'."
            )
        table, target = spec.rsplit(".", 1)
        return cls(column=column, table=table, target=target, model=model)

    @property
    def label(self) -> str:
        return f"{self.table}.{self.target}"


@dataclass
class ReferenceSet:
    """The references of a contract and, once loaded, the keys each may point to."""

    references: list[Reference]
    dtypes: dict[str, pl.DataType]
    keys: dict[str, pl.Series] = field(default_factory=dict)

    def load(self, conn: Connection) -> None:
        """Check every referenced table and column exists, then read their keys.

        Raises:
            ConfigError: a referenced table or column is missing (a configuration error
                found before the first batch, not thousands of quarantined rows).
        """
        keys: dict[str, pl.Series] = {}
        for ref in self.references:
            self._check_exists(conn, ref)
            query = sql.SQL(
                "COPY (SELECT DISTINCT {c}::text FROM {t} WHERE {c} IS NOT NULL) "
                "TO STDOUT (FORMAT csv)"
            ).format(c=sql.Identifier(ref.target), t=qualified(ref.table))
            try:
                with conn.cursor() as cur, cur.copy(query) as copy:
                    data = b"".join(bytes(block) for block in copy)
            except psycopg.Error as exc:
                raise ConfigError(
                    f"Cannot read the keys of {ref.label} (referenced by "
                    f"{ref.model}.{ref.column}): {exc}"
                ) from exc
            text = (
                pl.read_csv(data, has_header=False, new_columns=["k"], schema={"k": pl.String})
                .to_series()
                .fill_null("")  # a quoted empty string is a key too
                if data
                else pl.Series("k", [], dtype=pl.String)
            )
            dtype = self.dtypes[ref.column]
            typed = text.to_frame().select(text_cast(pl.col("k"), dtype)).to_series()
            keys[ref.column] = typed.drop_nulls().unique()
        self.keys = keys

    def errors(self, typed: pl.DataFrame, row: str) -> pl.DataFrame:
        """``(row, error)`` pairs for values of `typed` that are not among the keys.

        `typed` holds the cast contract columns (null where a value did not cast, which
        is reported by the cast) and the row id column `row`.
        """
        empty = pl.DataFrame(schema={row: pl.UInt32, "error": ERROR_DTYPE})
        if not self.references:
            return empty
        if len(self.keys) != len(self.references):
            raise ContractError(
                "The contract declares references but their keys were not loaded: call "
                "validator.begin_run(conn, ctx) before split() (the pipeline does).",
            )
        parts = []
        for ref in self.references:
            value = pl.col(ref.column)
            text = value.cast(pl.String)
            parts.append(
                typed.lazy()
                .filter(value.is_not_null() & ~value.is_in(self.keys[ref.column].implode()))
                .select(
                    pl.col(row),
                    pl.struct(
                        column=pl.lit(ref.column),
                        check=pl.lit(f"references({ref.label})"),
                        value=text,
                        message=pl.concat_str(
                            pl.lit(f"{ref.column} "), text, pl.lit(f" not found in {ref.label}")
                        ),
                    ).alias("error"),
                )
            )
        return pl.concat(pl.collect_all(parts), how="vertical") if parts else empty

    @staticmethod
    def _check_exists(conn: Connection, ref: Reference) -> None:
        row = conn.execute(
            "SELECT r.oid IS NOT NULL, EXISTS (SELECT 1 FROM pg_attribute a WHERE "
            "a.attrelid = r.oid AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped) "
            "FROM (SELECT to_regclass(%s) AS oid) r",
            (ref.target, qualified(ref.table).as_string(conn)),
        ).fetchone()
        assert row is not None
        where = f"{ref.model}.{ref.column} references {ref.label}"
        if not row[0]:
            raise ConfigError(
                f"{where}, but the destination database has no table {ref.table}. Load it "
                "first (run the pipeline that fills it) or fix metadata={'references': ...} "
                "in the contract."
            )
        if not row[1]:
            raise ConfigError(
                f"{where}, but {ref.table} has no column {ref.target}. Fix "
                "metadata={'references': ...} in the contract."
            )
