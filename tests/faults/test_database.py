"""The database goes away under a run: a backend killed mid-COPY, the server restarted.

The restart scenario runs on the embedded PostgreSQL (pgserver) of a temporary
workspace, so stopping it touches nothing else (and tests the embedded path).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

import polaretl as pe
import polaretl.load.postgres as postgres
from contracts.orders import Order
from polaretl import db
from tests.faults import invariants
from tests.helpers import orders_csv, query

ROWS, CHUNK, BAD_EVERY = 2000, 100, 50
pytestmark = pytest.mark.postgres


def _orders(folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    orders_csv(folder / "a.csv", ROWS, bad_every=BAD_EVERY)
    return str(folder / "*.csv")


def _pipeline(pattern: str, transforms: list[Any] | None = None) -> pe.Pipeline:
    return pe.Pipeline(
        "orders",
        extractor=pe.CsvExtractor(pattern),
        contract=Order,
        transforms=transforms or [],
        chunk_size=CHUNK,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    )


def _check(url: str) -> None:
    invariants.check_orders(url, "orders", rows=ROWS, bad_every=BAD_EVERY)


def test_backend_terminated_during_copy_retries_the_batch(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = postgres._copy
    calls, terminated = 0, []

    def copy_and_lose_the_backend(conn: Any, table: Any, frame: pl.DataFrame) -> None:
        nonlocal calls
        calls += 1
        if calls != 3:
            original(conn, table, frame)
            return
        pid = conn.info.backend_pid
        with psycopg.connect(database_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        terminated.append(pid)
        original(conn, table, frame)  # the COPY meets the dead backend

    monkeypatch.setattr(postgres, "_copy", copy_and_lose_the_backend)
    result = _pipeline(_orders(tmp_path)).run(database_url=database_url)

    assert terminated and calls > ROWS // CHUNK  # the lost batch was sent again
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 1960, 40)
    _check(database_url)


@pytest.mark.slow
def test_postgres_restarted_mid_run_resumes_on_reconnect(tmp_path: Path) -> None:
    from pgserver._commands import pg_ctl

    url = db.embedded_url(tmp_path / "ws")
    server = db._SERVERS[str((tmp_path / "ws" / db.STATE_DIR / "pgdata").resolve())]
    outage: list[float] = []

    def restart() -> None:
        t0 = time.monotonic()
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        time.sleep(3)  # down for a while: batches fail to connect and wait
        server.ensure_postgres_running()
        outage.append(time.monotonic() - t0)

    calls = 0
    restarter = threading.Thread(target=restart)

    def restart_at_batch_5(lf: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 6:  # the first call is the output-schema probe
            restarter.start()
        time.sleep(0.02)
        return lf

    try:
        result = _pipeline(_orders(tmp_path / "in"), [restart_at_batch_5]).run(database_url=url)
        restarter.join()
        assert outage and outage[0] >= 3
        assert (result.status, result.loaded, result.rejected) == ("succeeded", 1960, 40)
        _check(url)
        assert query(url, "SELECT count(*) FROM polaretl.runs") == [(1,)]
    finally:
        if restarter.is_alive():
            restarter.join()
        server.cleanup()
