"""Crash safety: a run SIGKILLed mid-way; the next run resumes with no duplicate."""

import signal
import subprocess
import sys

import pytest

import polaretl as pe
from contracts.orders import Order
from tests.helpers import ROOT, orders_csv, query

ROWS, CHUNK, BAD_EVERY = 1000, 100, 50  # 10 batches; 20 bad rows planted


def resume(url, pattern):
    return pe.Pipeline(
        "crashy",
        extractor=pe.CsvExtractor(pattern),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
        chunk_size=CHUNK,
    ).run(database_url=url)


@pytest.mark.parametrize(
    ("when", "batch"), [("after", 1), ("after", 4), ("after", 9), ("during", 1), ("during", 6)]
)
def test_killed_run_resumes_after_last_commit_without_duplicates(
    tmp_path, database_url, when, batch
):
    orders_csv(tmp_path / "a.csv", ROWS // 2, bad_every=BAD_EVERY)
    orders_csv(tmp_path / "b.csv", ROWS // 2, start=ROWS // 2 + 1, bad_every=BAD_EVERY)
    pattern = str(tmp_path / "*.csv")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.run.crashrun",
            database_url,
            pattern,
            str(CHUNK),
            when,
            str(batch),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    committed = batch if when == "after" else batch - 1
    assert query(database_url, "SELECT count(*) FROM polaretl.checkpoints") == [(committed,)]
    loaded_before = query(database_url, "SELECT count(*) FROM orders")[0][0]
    assert loaded_before == committed * (CHUNK - CHUNK // BAD_EVERY)  # whole batches only

    result = resume(database_url, pattern)

    # re-reads at most the one uncommitted batch: exactly the records not committed
    assert result.processed == ROWS - committed * CHUNK
    assert query(database_url, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [
        (ROWS - ROWS // BAD_EVERY, ROWS - ROWS // BAD_EVERY)
    ]
    assert query(
        database_url, "SELECT count(*), count(DISTINCT source) FROM polaretl.quarantine"
    ) == [(ROWS // BAD_EVERY, ROWS // BAD_EVERY)]
    assert query(database_url, "SELECT status FROM polaretl.runs ORDER BY run_id") == [
        ("failed",),
        ("succeeded",),
    ]
    # checkpoint exists iff its rows exist: every checkpoint's loaded rows are in the table
    assert query(database_url, "SELECT sum(loaded) FROM polaretl.checkpoints")[0][0] == (
        ROWS - ROWS // BAD_EVERY
    )
