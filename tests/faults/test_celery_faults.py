"""Faults under the Celery executor: real `polaretl worker`/`beat` processes, a Redis
server of the test's own and real PostgreSQL; every scenario ends with the invariants.

1. A worker child SIGKILLs itself at a seeded stage of a batch (extract, validate,
   transform, COPY, merge, checkpoint write, commit); the task is redelivered.
2. Redis is restarted (killed, started again on the same port) while slices run.
3. A slice outlives the visibility timeout: Redis hands it to a second worker while the
   first still runs it.
4. Two beat processes fire the same short schedule.

A worker's main process killed (nothing acknowledged, redelivered after the visibility
timeout) is `tests/run/test_celery.py::
test_killed_worker_main_process_is_redelivered_after_visibility_timeout`.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis

import polaretl as pe
from tests.faults import invariants
from tests.helpers import query
from tests.run.test_celery import Workers, _wait_for

WS = Path(__file__).parent / "celery_ws"
STAGES = ("extract", "validate", "transform", "copy", "merge", "checkpoint", "commit")
pytestmark = [pytest.mark.redis, pytest.mark.slow]


class RedisServer:
    """A `redis-server` of the test's own on a free port; `restart` keeps the port."""

    def __init__(self, folder: Path, *, durable: bool) -> None:
        self.folder, self.durable = folder, durable
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        # durable as in docker-compose.yml (append-only file), so a restart keeps the queue
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []
        with open(self.folder / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    *persistence,
                    "--dir",
                    str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def restart(self, down: float = 2.0) -> None:
        self.kill()
        time.sleep(down)
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    durable = bool(getattr(request, "param", False))
    server = RedisServer(tmp_path / "redis", durable=durable)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copytree(WS, tmp_path / "ws", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "ws"


@pytest.fixture
def env(
    redis_server: RedisServer, database_url: str, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    settings = {
        "POLARETL_DATABASE_URL": database_url,
        "POLARETL_REDIS_URL": redis_server.url,
        "POLARETL_PROJECT": str(ws),
        "POLARETL_QUEUE": f"polaretl-faults-{uuid4().hex}",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    from polaretl.run.celery_app import configure

    configure(redis_server.url)  # this process submits the runs
    return {**os.environ, **settings}


@pytest.fixture
def workers(ws: Path, env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(ws, env)
    try:
        yield pool
    finally:
        pool.stop_all()


def write_parts(folder: Path, files: int, rows: int) -> invariants.Source:
    """`files` CSV files of `rows` records, unique keys; every 25th record is bad (a
    negative or non-numeric qty): quarantined, never loaded."""
    data = folder / "data" / "parts"
    data.mkdir(parents=True, exist_ok=True)
    bad = 0
    for f in range(files):
        lines = ["part_id,qty,label"]
        for i in range(rows):
            qty: str = str(i % 9)
            if i % 25 == 7:
                qty, bad = ("-1" if i % 2 else "many"), bad + 1
            lines.append(f"{f * rows + i},{qty},p{f}-{i}")
        (data / f"part_{f}.csv").write_text("\n".join(lines) + "\n")
    return invariants.Source(records=files * rows, bad=bad)


def finish_or_rerun(ws: Path, run_id: int, timeout: float = 120) -> pe.RunResult:
    """The run ends succeeded; or failed with an error, and then a rerun succeeds."""
    result = pe.wait(run_id, timeout=timeout)
    if result.status == "succeeded":
        return result
    assert result.status == "failed" and result.error, (result.status, result.error)
    rerun = pe.wait(pe.submit(result.pipeline, project=ws), timeout=timeout)
    assert rerun.status == "succeeded", rerun.error
    return rerun


def no_run_left_running(url: str) -> None:
    assert query(url, "SELECT count(*) FROM polaretl.runs WHERE status = 'running'") == [(0,)]


# -- 1. seeded SIGKILL points ---------------------------------------------------------


def kill_point(seed: int) -> tuple[str, int]:
    """(stage, N): a worker child dies the Nth time it passes the stage (each child runs
    a lane of two slices: six batches)."""
    rng = random.Random(seed)
    return rng.choice(STAGES), rng.randint(1, 3)


def _kill_params() -> list[pytest.ParameterSet]:
    """26 seeds; the fast subset is the first seed of each of five different stages."""
    params, fast = [], set()
    for seed in range(26):
        stage, nth = kill_point(seed)
        if len(fast) < 5 and stage not in {kill_point(s)[0] for s in fast}:
            fast.add(seed)
        marks = [] if seed in fast else [pytest.mark.full]
        params.append(pytest.param(seed, id=f"seed{seed}-{stage}-{nth}", marks=marks))
    return params


@pytest.mark.parametrize("seed", _kill_params())
def test_worker_child_killed_at_a_seeded_point_loads_exactly_once(
    seed, ws, workers, database_url, tmp_path
):
    stage, nth = kill_point(seed)
    source = write_parts(ws, files=4, rows=150)  # 3 batches per slice, 12 in all
    marker = tmp_path / "killed"
    workers.start(
        "--concurrency",
        "2",
        extra_env={
            "POLARETL_TEST_KILL": f"{stage}:{nth}",
            "POLARETL_TEST_KILL_MARKER": str(marker),
        },
    )
    run_id = pe.submit("faulty", project=ws)
    result = finish_or_rerun(ws, run_id)
    assert marker.exists(), f"no worker child died at {stage}:{nth}"
    if result.run_id == run_id:  # redelivered within the run: the slice started twice
        attempts = query(
            database_url, "SELECT max(attempts) FROM polaretl.slices WHERE run_id = %s", (run_id,)
        )
        assert attempts[0][0] >= 2
    invariants.check(
        database_url, pipeline="faulty", table="faulty_parts", key="part_id", source=source
    )


# -- 2. Redis restarted mid-run ---------------------------------------------------------


@pytest.mark.parametrize("redis_server", [True], indirect=True, ids=["durable"])
def test_redis_restarted_mid_run(ws, workers, database_url, redis_server):
    source = write_parts(ws, files=4, rows=300)  # 6 batches per slice
    workers.start("--concurrency", "2", extra_env={"POLARETL_TEST_SLOW": "0.3"})
    run_id = pe.submit("faulty", project=ws)
    _wait_for(lambda: query(database_url, "SELECT 1 FROM polaretl.checkpoints LIMIT 1"))
    redis_server.restart(down=2.0)
    finish_or_rerun(ws, run_id, timeout=150)
    no_run_left_running(database_url)
    invariants.check(
        database_url, pipeline="faulty", table="faulty_parts", key="part_id", source=source
    )


# -- 3. a slice outliving the visibility timeout -----------------------------------------


def test_a_slice_outliving_the_visibility_timeout_runs_twice_and_loads_once(
    ws, workers, database_url
):
    source = write_parts(ws, files=1, rows=400)  # one slice: 8 batches, 0.6 s each
    late = {"POLARETL_VISIBILITY_TIMEOUT": "3", "POLARETL_TEST_SLOW": "0.6"}
    workers.start("--concurrency", "1", extra_env=late)
    workers.start("--concurrency", "1", extra_env=late)
    run_id = pe.submit("slowpoke", project=ws)
    result = pe.wait(run_id, timeout=120)
    assert result.status == "succeeded", result.error
    # the same task ran on both workers: delivered again while the first copy still ran
    received = [
        set(re.findall(rb"polaretl\.slice\[([0-9a-f-]+)\] received", p.read_bytes()))
        for p in sorted(ws.glob("worker-*.log"))
    ]
    assert received[0] & received[1], "no slice task was delivered to both workers"
    # a copy that waited for the running one is not an attempt: no slice counts as retried
    assert query(
        database_url, "SELECT max(attempts) FROM polaretl.slices WHERE run_id = %s", (run_id,)
    ) == [(1,)]
    invariants.check(
        database_url, pipeline="slowpoke", table="slowpoke_parts", key="part_id", source=source
    )


# -- 4. two beat processes ---------------------------------------------------------------


def test_two_beats_never_overlap_runs_and_every_fire_is_recorded(ws, workers, database_url, env):
    pe.runs(database_url=database_url)  # creates the polaretl schema the test polls
    workers.start("--concurrency", "2", extra_env={"POLARETL_TEST_SLOW": "1.5"})
    beats = [workers.start(command="beat"), workers.start(command="beat")]
    _wait_for(
        lambda: query(
            database_url,
            "SELECT count(*) >= 2 FROM polaretl.runs "
            "WHERE pipeline = 'faultticker' AND status = 'succeeded'",
        )[0][0],
        timeout=60,
    )
    for beat in beats:
        workers.kill(beat)
    logs = [p.read_bytes() for p in sorted(ws.glob("beat-*.log"))]
    fires = sum(log.count(b"Sending due task polaretl:faultticker") for log in logs)
    assert all(b"Sending due task" in log for log in logs), "a beat never fired"
    broker = redis.Redis.from_url(env["POLARETL_REDIS_URL"])
    # every fire is taken from the queue and ends as a run or a skipped run
    _wait_for(
        lambda: (
            broker.llen(env["POLARETL_QUEUE"]) == 0
            and query(
                database_url,
                "SELECT count(*) FILTER (WHERE status = 'running') = 0 AND count(*) = %s "
                "FROM polaretl.runs WHERE pipeline = 'faultticker'",
                (fires,),
            )[0][0]
        ),
        timeout=60,
    )
    runs = query(
        database_url,
        "SELECT run_id, status, started_at, finished_at, error FROM polaretl.runs "
        "WHERE pipeline = 'faultticker' ORDER BY started_at",
    )
    ran = [r for r in runs if r[1] != "skipped"]
    skipped = [r for r in runs if r[1] == "skipped"]
    assert skipped, "two beats at 1 s and 1.5 s runs: some fires must be refused"
    for run_id, _, _, _, error in skipped:
        assert error and "already running" in error, (run_id, error)
    for (a, _, _, a_end, _), (b, _, b_start, _, _) in zip(ran, ran[1:], strict=False):
        assert a_end <= b_start, f"runs {a} and {b} overlap"
    assert all(r[1] == "succeeded" for r in ran), ran
    # one new key per run that ran
    invariants.check(
        database_url,
        pipeline="faultticker",
        table="fault_ticks",
        key="part_id",
        source=invariants.Source(records=len(ran), bad=0),
    )
