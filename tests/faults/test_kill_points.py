"""SIGKILL at seeded random points of a batch (local executor), then resume.

Twenty points drawn from one seed over every stage a batch passes through (see
`killrun.STAGES`); half of them start with part of the target already loaded, so the
upsert merges through staging + ON CONFLICT instead of COPYing straight in. The first
pass (one point per stage) runs in `make test`; the rest are marked `full`.

At the moment of the kill: the dead run is still `running`, and what it committed is
whole batches only (each checkpoint's rows exist, nothing else of that run does).
After the next run: invariants A-D, every value as in the source, and only the
uncommitted records were read again.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import invariants
from tests.faults.killrun import STAGES, pipeline
from tests.helpers import ROOT, orders_csv, query

ROWS, CHUNK, BAD_EVERY = 1000, 100, 50  # two files, 10 batches, 20 bad rows planted
BATCHES = ROWS // CHUNK
SEED = 20261128
#: stages whose work for batch N runs ahead in the prefetch thread (one item queued, one
#: in the making) while an earlier batch commits: up to two batches may be uncommitted
AHEAD = {"extract", "validate", "transform"}


def _points(count: int = 20) -> list[tuple[str, int, bool]]:
    rng = random.Random(SEED)
    stages = list(STAGES) + [rng.choice(STAGES) for _ in range(count - len(STAGES))]
    points = []
    for i, stage in enumerate(stages):
        preload = True if (stage == "merge" and i < len(STAGES)) else rng.random() < 0.5
        points.append((stage, rng.randint(1, BATCHES), preload))
    return points


POINTS = [
    pytest.param(*point, id=f"{point[0]}-{point[1]}-{'merge' if point[2] else 'copy'}")
    if i < len(STAGES)
    else pytest.param(
        *point,
        id=f"{point[0]}-{point[1]}-{'merge' if point[2] else 'copy'}",
        marks=pytest.mark.full,
    )
    for i, point in enumerate(_points())
]
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _sources(folder: Path) -> str:
    folder.mkdir()
    orders_csv(folder / "a.csv", ROWS // 2, bad_every=BAD_EVERY)
    orders_csv(folder / "b.csv", ROWS // 2, start=ROWS // 2 + 1, bad_every=BAD_EVERY)
    return str(folder / "*.csv")


def _preload(tmp_path: Path, url: str) -> int:
    """A third of the valid keys already in the target, with stale values."""
    keys = [i for i in range(1, ROWS + 1) if i % 3 == 0 and i % BAD_EVERY]
    seed = tmp_path / "seed.csv"
    seed.write_text(
        "order_id,customer_id,amount,status,created_at,note\n"
        + "".join(f"{i},1,0.5,paid,2025-01-01 00:00:00,stale\n" for i in keys)
    )
    import polaretl as pe
    from contracts.orders import Order

    pe.Pipeline(
        "seed",
        extractor=pe.CsvExtractor(str(seed)),
        contract=Order,
        loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    ).run(database_url=url)
    return len(keys)


@pytest.mark.parametrize(("stage", "batch", "preload"), POINTS)
def test_sigkill_then_resume_loads_everything_once(
    tmp_path: Path, database_url: str, stage: str, batch: int, preload: bool
) -> None:
    pattern = _sources(tmp_path / "in")
    if preload:
        _preload(tmp_path, database_url)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.killrun", database_url, pattern, str(CHUNK)]
        + [stage, str(batch)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, f"never reached {stage} {batch}: {proc.stderr}"

    # at the kill: the dead run is still `running`, and it committed whole batches only
    [(run_id, status)] = query(
        database_url, "SELECT run_id, status FROM polaretl.runs WHERE pipeline = 'crashy'"
    )
    assert status == "running"
    [(batches, loaded, rejected)] = query(
        database_url,
        "SELECT count(*), coalesce(sum(loaded), 0), coalesce(sum(rejected), 0) "
        "FROM polaretl.checkpoints WHERE run_id = %s",
        (run_id,),
    )
    if stage == "commit":
        assert batches == batch
    elif stage in AHEAD:
        assert max(batch - 3, 0) <= batches <= max(batch - 1, 0)
    else:
        assert batches == batch - 1
    assert query(
        database_url, "SELECT count(*) FROM orders WHERE _polaretl_run_id = %s", (run_id,)
    ) == [(loaded,)]
    assert query(
        database_url, "SELECT count(*) FROM polaretl.quarantine WHERE run_id = %s", (run_id,)
    ) == [(rejected,)]

    result = pipeline(pattern, CHUNK).run(database_url=database_url)

    assert result.status == "succeeded"
    assert result.processed == ROWS - batches * CHUNK  # only what was not committed
    assert query(
        database_url,
        "SELECT status, error IS NOT NULL FROM polaretl.runs WHERE pipeline = 'crashy' "
        "ORDER BY run_id",
    ) == [("failed", True), ("succeeded", False)]
    invariants.check_orders(database_url, "crashy", rows=ROWS, bad_every=BAD_EVERY)
    # every value as in the source: the stale preloaded rows were all updated
    assert query(
        database_url,
        "SELECT count(*) FROM orders WHERE note IS DISTINCT FROM 'n' || order_id "
        "OR amount <> (order_id % 100) + 0.5",
    ) == [(0,)]
