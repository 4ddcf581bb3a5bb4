"""A dropped database connection mid-run: the batch is retried on a new connection."""

import threading
import time

import psycopg

import polaretl as pe
from contracts.orders import Order
from tests.helpers import orders_csv, query


def test_terminated_backend_is_reconnected_and_the_run_succeeds(tmp_path, database_url):
    orders_csv(tmp_path / "a.csv", 3000, bad_every=100)
    killed: list[int] = []

    def slow(lf):
        time.sleep(0.05)  # leave the killer time between batches
        return lf

    def killer() -> None:
        deadline = time.monotonic() + 30
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not killed and time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'polaretl' AND query LIKE 'UPDATE polaretl.runs "
                    "SET processed%%'"
                ).fetchall()
                for (pid,) in rows:
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.005)

    thread = threading.Thread(target=killer)
    thread.start()
    result = pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
        contract=Order,
        transforms=[slow],
        chunk_size=100,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    ).run(database_url=database_url)
    thread.join()
    assert killed, "the data connection was never seen between batches"
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
