"""Replay under faults: it is a run (the run lifecycle, the one batch commit), so it keeps
a run's guarantees. SIGKILL at points of a replay's batch, then replay again; a database
connection lost mid-replay. Nothing doubled, nothing lost: invariants A-D as
`invariants.check_replay` states them for a replay.

The scenario: 1000 orders, every second one with a negative amount (500 quarantined by
the run), all corrected in the database, replayed in batches of 50 (10 batches).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from polaretl import api
from tests.faults import invariants
from tests.faults.killrun import pipeline
from tests.helpers import ROOT, orders_csv, query
from tests.run.test_connection_loss import _terminate_data_connections

ROWS, CHUNK, BAD_EVERY = 1000, 50, 2
BAD = ROWS // BAD_EVERY
SOURCE = invariants.Source(records=ROWS, bad=BAD)
#: stages whose work for batch N runs ahead in the prefetch thread (see test_kill_points)
AHEAD = {"extract", "validate", "transform"}
POINTS = [
    pytest.param("load", 4, id="load-4"),
    pytest.param("mark", 2, id="mark-2"),
    pytest.param("commit", 7, id="commit-7"),
    pytest.param("extract", 5, id="extract-5", marks=pytest.mark.full),
    pytest.param("validate", 3, id="validate-3", marks=pytest.mark.full),
    pytest.param("transform", 9, id="transform-9", marks=pytest.mark.full),
    pytest.param("mark", 10, id="mark-10", marks=pytest.mark.full),
]
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _quarantined_and_corrected(folder: Path, url: str, transforms: list[Any] | None = None):
    folder.mkdir()
    orders_csv(folder / "a.csv", ROWS, bad_every=BAD_EVERY)
    pattern = str(folder / "*.csv")
    pipe = pipeline(pattern, CHUNK, transforms)
    first = pipe.run(database_url=url)
    assert (first.loaded, first.rejected) == (ROWS - BAD, BAD)
    query(url, 'UPDATE polaretl.quarantine SET corrected = raw || \'{"amount": "7.5"}\'')
    return pattern, pipe


def _corrected_values_loaded(url: str) -> None:
    assert query(
        url,
        "SELECT count(*) FILTER (WHERE amount = 7.5), count(*) FROM orders "
        "WHERE _polaretl_source LIKE 'quarantine:%%'",
    ) == [(BAD, BAD)]


@pytest.mark.parametrize(("stage", "batch"), POINTS)
def test_sigkill_mid_replay_then_replay_again_loads_every_record_once(
    tmp_path: Path, database_url: str, stage: str, batch: int
) -> None:
    pattern, pipe = _quarantined_and_corrected(tmp_path / "in", database_url)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.killreplay", database_url, pattern, str(CHUNK)]
        + [stage, str(batch)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, f"never reached {stage} {batch}: {proc.stderr}"

    # at the kill: the replay is still `running`, and it committed whole batches only
    [(run_id, status, batches, loaded)] = query(
        database_url,
        "SELECT run_id, status, batches, loaded FROM polaretl.runs "
        "WHERE pipeline = 'crashy:replay'",
    )
    assert status == "running"
    if stage == "commit":
        assert batches == batch
    elif stage in AHEAD:
        assert max(batch - 3, 0) <= batches <= max(batch - 1, 0)
    else:
        assert batches == batch - 1
    assert loaded == batches * CHUNK
    assert query(
        database_url,
        "SELECT count(*) FROM polaretl.quarantine WHERE replay_run_id = %s AND status = 'replayed'",
        (run_id,),
    ) == [(loaded,)]
    assert query(
        database_url, "SELECT count(*) FROM orders WHERE _polaretl_run_id = %s", (run_id,)
    ) == [(loaded,)]

    again = api.replay(pipe, database_url=database_url)

    assert again.status == "succeeded"
    assert again.processed == again.loaded == BAD - loaded  # only what was not committed
    assert again.metrics["replayed"] == BAD - loaded and again.metrics["still_pending"] == 0
    assert query(
        database_url,
        "SELECT status, error IS NOT NULL FROM polaretl.runs WHERE pipeline = 'crashy:replay' "
        "ORDER BY run_id",
    ) == [("failed", True), ("succeeded", False)]
    invariants.check_replay(
        database_url, pipeline="crashy", table="orders", key="order_id", source=SOURCE
    )
    _corrected_values_loaded(database_url)


def test_connection_lost_mid_replay_is_reconnected_and_the_batch_retried(
    tmp_path: Path, database_url: str
) -> None:
    armed, calls, killed = [False], [0], []

    def kill_on_third_replay_batch(lf: pl.LazyFrame) -> pl.LazyFrame:
        if armed[0]:
            calls[0] += 1
            if calls[0] == 4:  # the first call is the output-schema probe
                killed.extend(_terminate_data_connections(database_url))
        return lf

    _, pipe = _quarantined_and_corrected(
        tmp_path / "in", database_url, [kill_on_third_replay_batch]
    )
    armed[0] = True

    result = api.replay(pipe, database_url=database_url)

    assert killed, "no data connection was open at the third batch"
    assert (result.status, result.processed, result.loaded, result.rejected) == (
        "succeeded",
        BAD,
        BAD,
        0,
    )
    assert result.metrics["replayed"] == BAD
    invariants.check_replay(
        database_url, pipeline="crashy", table="orders", key="order_id", source=SOURCE
    )
    _corrected_values_loaded(database_url)
