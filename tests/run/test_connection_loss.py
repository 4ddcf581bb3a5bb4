"""A dropped database connection mid-run: the batch is retried on a new connection."""

import psycopg

import polaretl as pe
from contracts.orders import Order
from tests.helpers import orders_csv, query


def _terminate_data_connections(url: str) -> list[int]:
    """End every polaretl session on the test database except the run's control
    connection (it holds the pipeline's advisory lock)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.pid, pg_terminate_backend(a.pid) FROM pg_stat_activity a "
            "WHERE a.datname = current_database() AND a.application_name = 'polaretl' "
            "AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid "
            "AND l.locktype = 'advisory')"
        ).fetchall()
    return [pid for pid, _ in rows]


def test_terminated_backend_is_reconnected_and_the_run_succeeds(tmp_path, database_url):
    orders_csv(tmp_path / "a.csv", 3000, bad_every=100)
    killed: list[int] = []
    calls = 0

    def kill_on_fifth_batch(lf):
        nonlocal calls
        calls += 1
        if calls == 5:
            killed.extend(_terminate_data_connections(database_url))
        return lf

    result = pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
        contract=Order,
        transforms=[kill_on_fifth_batch],
        chunk_size=100,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    ).run(database_url=database_url)
    assert killed, "no data connection was open at the fifth batch"
    assert (result.status, result.processed, result.rejected, result.loaded) == (
        "succeeded",
        3000,
        30,
        2970,
    )
    assert query(database_url, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [
        (2970, 2970)
    ]
    assert query(database_url, "SELECT count(*) FROM polaretl.quarantine") == [(30,)]
