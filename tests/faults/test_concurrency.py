"""Two runs of one pipeline started at the same moment: one runs, one is refused."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import polaretl as pe
from contracts.orders import Order
from tests.faults import invariants
from tests.helpers import ROOT, orders_csv, query

ROWS, CHUNK, BAD_EVERY = 1000, 100, 50
pytestmark = pytest.mark.postgres


def _pipeline(pattern: str) -> pe.Pipeline:
    def slow(lf: Any) -> Any:
        time.sleep(0.05)
        return lf

    return pe.Pipeline(
        "crashy",
        extractor=pe.CsvExtractor(pattern),
        contract=Order,
        transforms=[slow],
        chunk_size=CHUNK,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    )


def test_two_runs_at_once_one_is_refused_and_nothing_doubles(
    tmp_path: Path, database_url: str
) -> None:
    orders_csv(tmp_path / "a.csv", ROWS, bad_every=BAD_EVERY)
    pattern = str(tmp_path / "*.csv")
    gate = threading.Barrier(2)
    outcomes: list[Any] = []

    def start() -> None:
        gate.wait()
        try:
            outcomes.append(_pipeline(pattern).run(database_url=database_url))
        except pe.errors.RunLockedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    [result] = [o for o in outcomes if isinstance(o, pe.RunResult)]
    [refused] = [o for o in outcomes if isinstance(o, pe.errors.RunLockedError)]
    assert result.status == "succeeded" and result.processed == ROWS
    assert "already running" in str(refused)
    invariants.check_orders(database_url, "crashy", rows=ROWS, bad_every=BAD_EVERY)


@pytest.mark.slow
def test_a_second_process_started_mid_run_is_refused(tmp_path: Path, database_url: str) -> None:
    """Across processes: `polaretl run` started while a run holds the pipeline's lock
    exits non-zero saying so, and leaves no trace in the data or the run history."""
    orders_csv(tmp_path / "a.csv", ROWS, bad_every=BAD_EVERY)
    pattern = str(tmp_path / "*.csv")
    events: list[dict[str, Any]] = []
    second: list[subprocess.CompletedProcess[str]] = []

    def on_batch(event: dict[str, Any]) -> None:
        events.append(event)
        if len(events) == 3:  # mid-run, lock held: a second process tries to run
            second.append(
                subprocess.run(
                    [sys.executable, "-m", "polaretl.cli", "run", "crashy"]
                    + ["--database-url", database_url, "--project", str(tmp_path / "ws")],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            )

    ws = tmp_path / "ws"
    (ws / "connectors").mkdir(parents=True)
    (ws / "connectors" / "crashy.py").write_text(
        "import polaretl as pe\n"
        "from contracts.orders import Order\n"
        f"pipeline = pe.Pipeline('crashy', extractor=pe.CsvExtractor({pattern!r}), "
        "contract=Order, loader=pe.PostgresLoader('orders', key='order_id', mode='upsert'))\n"
    )
    result = _pipeline(pattern).run(database_url=database_url, progress=on_batch)

    [proc] = second
    assert proc.returncode != 0
    assert "already running" in proc.stdout + proc.stderr
    assert result.status == "succeeded"
    assert query(database_url, "SELECT count(*) FROM polaretl.runs") == [(1,)]
    invariants.check_orders(database_url, "crashy", rows=ROWS, bad_every=BAD_EVERY)
