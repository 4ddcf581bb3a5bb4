"""Hostile column and table names end to end: quoted everywhere (create, COPY, staging,
merge, quarantine), unicode kept, and a name PostgreSQL would cut at 63 bytes refused
with a polaretl error before anything is written. A canary table survives every case."""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import psycopg
import pytest
from psycopg import sql

import polaretl as pe
from polaretl.errors import ConfigError
from tests.faults import invariants
from tests.helpers import query

pytestmark = pytest.mark.postgres

LONG = "c" * 70  # PostgreSQL keeps 63 bytes of a name


def model(key: str, column: str) -> type[pa.DataFrameModel]:
    annotations = {key: int, column: str}
    return type(pa.DataFrameModel)(
        "Hostile", (pa.DataFrameModel,), {"__annotations__": annotations}
    )


def csv_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write(path: Path, key: str, column: str, rows: list[str]) -> None:
    """A CSV with the key, the column and an extra 70-character column nobody loads."""
    header = ",".join(csv_field(n) for n in (key, column, LONG))
    path.write_text(header + "\n" + "".join(r + ",extra\n" for r in rows), encoding="utf-8")


def in_schema(url: str, schema: str) -> str:
    """`url` with `schema` first on the search path (for the unqualified invariant check)."""
    quoted = '"' + schema.replace('"', '""') + '"'
    return psycopg.conninfo.make_conninfo(url, options=f"-c search_path={quoted},public")


def canary(url: str) -> None:
    query(url, "CREATE TABLE canary (x int)")
    query(url, "INSERT INTO canary VALUES (1)")


CASES = {  # id: (key column, loaded column, target table)
    "quotes_and_semicolons": ("id", 'a"; drop table canary; --', 'odd"table; --'),
    "sql_comments": ("id/*", "v -- x */ drop table canary", "t/* */; drop table canary --"),
    "hostile_key": ('k"); drop table canary; --', "v", "t"),
    "unicode": ("clé", "数据 😀", "表_é_😀"),
    "63_bytes_exactly": ("id", "数" * 21, "t" * 63),
    "schema_qualified": ("id", "v", 'raw"s;--.orders; drop table canary'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_names_load_exactly_and_the_canary_survives(
    tmp_path: Path, database_url: str, case: str
) -> None:
    key, column, table = CASES[case]
    canary(database_url)
    path = tmp_path / "h.csv"
    write(path, key, column, ["1,x", "2,y", "bad,z"])
    pipeline = pe.Pipeline(
        "hostile",
        extractor=pe.CsvExtractor(str(path)),
        contract=model(key, column),
        loader=pe.PostgresLoader(table, key=key, mode="upsert"),
    )
    first = pipeline.run(database_url=database_url)
    assert (first.loaded, first.rejected) == (2, 1)
    with path.open("a", encoding="utf-8") as handle:  # the second run merges via staging
        handle.write("3,z,extra\n")
    assert pipeline.run(database_url=database_url).loaded == 1

    schema, name = table.split(".", 1) if "." in table else ("public", table)
    target = sql.Identifier(schema, name)
    with psycopg.connect(database_url, autocommit=True) as conn:
        got = conn.execute(
            sql.SQL("SELECT {}, {} FROM {} ORDER BY 1").format(
                sql.Identifier(key), sql.Identifier(column), target
            )
        ).fetchall()
    assert got == [(1, "x"), (2, "y"), (3, "z")]
    (raw,) = query(database_url, "SELECT raw FROM polaretl.quarantine")[0]
    assert raw == {key: "bad", column: "z", LONG: "extra"}  # extra columns kept, uncut
    assert query(database_url, "SELECT x FROM canary") == [(1,)]
    invariants.check(
        in_schema(database_url, schema),
        pipeline="hostile",
        table=name,
        key=key,
        source=invariants.Source(records=4, bad=1),
    )


@pytest.mark.parametrize("column", [LONG, "数" * 22, "😀" * 16], ids=["ascii", "cjk", "emoji"])
def test_a_column_name_over_63_bytes_fails_before_any_write(
    tmp_path: Path, database_url: str, column: str
) -> None:
    canary(database_url)
    path = tmp_path / "h.csv"
    write(path, "id", column, ["1,x"])
    pipeline = pe.Pipeline(
        "long",
        extractor=pe.CsvExtractor(str(path)),
        contract=model("id", column),
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
    )
    with pytest.raises(pe.RunFailedError) as info:
        pipeline.run(database_url=database_url)
    message = str(info.value)
    size = len(column.encode())
    assert f"Column {column!r} is {size} bytes long" in message
    assert "first 63 bytes" in message and "lf.rename(" in message
    assert "psycopg" not in message
    assert query(database_url, "SELECT to_regclass('public.t')") == [(None,)]
    assert query(database_url, "SELECT x FROM canary") == [(1,)]
    ((status, error),) = query(
        database_url, "SELECT status, error FROM polaretl.runs WHERE pipeline = 'long'"
    )
    assert status == "failed" and "63 bytes" in error


def test_a_long_source_column_renamed_by_a_transform_loads(
    tmp_path: Path, database_url: str
) -> None:
    """What the error tells the user to do works."""
    path = tmp_path / "h.csv"
    write(path, "id", LONG + "x", ["1,x"])
    pipeline = pe.Pipeline(
        "renamed",
        extractor=pe.CsvExtractor(str(path)),
        contract=model("id", LONG + "x"),
        transforms=[lambda lf: lf.rename({LONG + "x": "short"})],
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
    )
    assert pipeline.run(database_url=database_url).loaded == 1
    assert query(database_url, "SELECT id, short FROM t") == [(1, "x")]


@pytest.mark.parametrize("table", ["t" * 64, "s" * 64 + ".t", "é" * 32])
def test_a_table_name_over_63_bytes_is_refused_when_the_loader_is_built(table: str) -> None:
    with pytest.raises(ConfigError, match="63 bytes") as info:
        pe.PostgresLoader(table, key="id", mode="upsert")
    assert "bytes long" in str(info.value) and "Choose a table name" in str(info.value)


@pytest.mark.parametrize(
    "field", ["_polaretl_source", "_polaretl_run_id", "_polaretl_loaded_at", "__polaretl_row"]
)
@pytest.mark.parametrize("declared", ["alias", "annotation"])
def test_a_contract_field_named_like_a_lineage_column_is_refused_by_pipeline(
    tmp_path: Path, database_url: str, field: str, declared: str
) -> None:
    write(tmp_path / "a.csv", "id", field, ["1,x"])
    if declared == "alias":  # before: a Polars DuplicateError after the table was created
        contract = type(pa.DataFrameModel)(
            "Hostile",
            (pa.DataFrameModel,),
            {"__annotations__": {"id": int, "v": str}, "v": pa.Field(alias=field)},
        )
    else:  # before: Pandera left the field out of the contract, in silence
        contract = model("id", field)
    with pytest.raises(ConfigError) as info:
        pe.Pipeline(
            "lineage_name",
            extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
            contract=contract,
            loader=pe.PostgresLoader("t", key="id"),
        )
    assert str(info.value) == (
        f"Contract Hostile: field {field} is named like polaretl's own columns (prefix "
        "_polaretl_ or __polaretl_; every loaded row carries _polaretl_run_id, _polaretl_source "
        "and _polaretl_loaded_at). Rename the field."
    )
    assert query(database_url, "SELECT count(*) FROM pg_tables WHERE tablename = 't'") == [(0,)]
