"""Contract evolution: what loads as is, and what fails with the migration to run."""

import pandera.polars as pa
import pytest

import polaretl as pe
from tests.helpers import query
from tests.quality.conftest import write_csv


class V1(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float
    note: str


class WithCoupon(V1):
    coupon: str = pa.Field(nullable=True)


class IntAmount(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: int
    note: str


class NullableNote(V1):
    note: str = pa.Field(nullable=True)


class Smaller(pa.DataFrameModel):  # the contract dropped a NOT NULL column
    order_id: int = pa.Field(unique=True)
    amount: float


def run(folder, url, contract, table, key="order_id"):
    return pe.Pipeline(
        table,
        extractor=pe.CsvExtractor(str(folder / "*.csv")),
        contract=contract,
        loader=pe.PostgresLoader(table, key=key, mode="upsert"),
    ).run(database_url=url, full_refresh=True)


@pytest.fixture
def database_url(module_database_url):
    return module_database_url  # each test has a table of its own


@pytest.fixture
def loaded(data_dir, database_url, name):
    write_csv(data_dir / "a.csv", "order_id,amount,note,coupon", ["1,2.5,x,", "2,3.5,y,C1"])
    run(data_dir, database_url, V1, name)
    return data_dir


def test_a_new_nullable_field_adds_the_column(loaded, database_url, name):
    before = query(database_url, f"SELECT order_id, amount, note FROM {name} ORDER BY 1")
    result = run(loaded, database_url, WithCoupon, name)
    assert result.loaded == 2
    assert query(
        database_url,
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = %s AND column_name = 'coupon'",
        (name,),
    ) == [("text", "YES")]
    assert query(database_url, f"SELECT order_id, amount, note FROM {name} ORDER BY 1") == before
    assert query(database_url, f"SELECT coupon FROM {name} ORDER BY order_id") == [(None,), ("C1",)]


@pytest.mark.parametrize(
    ("contract", "key", "message"),
    [
        (
            IntAmount,
            "order_id",
            "Column orders.amount is double precision but the contract now makes it Int64 "
            '(bigint), which the column cannot hold unchanged. Migrate it: ALTER TABLE "orders" '
            'ALTER COLUMN "amount" TYPE bigint USING "amount"::bigint;',
        ),
        (
            V1,
            ["order_id", "note"],
            "The key of orders changed: its primary key is (order_id), the loader's key is "
            '(order_id, note). Run: ALTER TABLE "orders" DROP CONSTRAINT "orders_pkey", '
            'ADD PRIMARY KEY ("order_id", "note");',
        ),
        (
            NullableNote,
            "order_id",
            "Column orders.note is NOT NULL but the contract now allows null in it. Migrate "
            'it: ALTER TABLE "orders" ALTER COLUMN "note" DROP NOT NULL;',
        ),
        (
            Smaller,
            "order_id",
            "Column orders.note is NOT NULL but the contract no longer has it. Migrate it: "
            'ALTER TABLE "orders" ALTER COLUMN "note" DROP NOT NULL;',
        ),
    ],
    ids=["type_narrowed", "key_changed", "now_nullable", "column_dropped"],
)
def test_an_incompatible_change_fails_with_the_migration(
    loaded, database_url, name, contract, key, message
):
    with pytest.raises(pe.RunFailedError) as info:
        run(loaded, database_url, contract, name, key)
    assert message.replace("orders", name) in str(info.value)
    assert query(database_url, f"SELECT count(*) FROM {name}") == [(2,)]  # untouched


def test_the_migration_it_names_makes_the_run_pass(loaded, database_url, name):
    with pytest.raises(pe.RunFailedError) as info:
        run(loaded, database_url, IntAmount, name)
    migration = str(info.value).split("Migrate it: ", 1)[1].split(";", 1)[0]
    write_csv(loaded / "a.csv", "order_id,amount,note", ["1,2,x", "2,3,y"])
    query(database_url, migration)  # runs as printed
    assert run(loaded, database_url, IntAmount, name).loaded == 2


def test_a_wider_target_column_takes_the_contract_as_is(data_dir, database_url, name):
    query(
        database_url,
        f"CREATE TABLE {name} (order_id bigint PRIMARY KEY, amount numeric, note text, "
        "_polaretl_run_id bigint, _polaretl_source text, _polaretl_loaded_at timestamptz "
        "DEFAULT now())",
    )
    write_csv(data_dir / "a.csv", "order_id,amount,note", ["1,2,x"])
    assert run(data_dir, database_url, IntAmount, name).loaded == 1
