"""The Celery executor with real Redis and real `polaretl worker` subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis

import polaretl as pe
from tests.helpers import query

WS = Path(__file__).parent / "celery_ws"
REDIS_DB = 11  # the tests' own Redis database, flushed before each test
pytestmark = [pytest.mark.redis, pytest.mark.slow]


def write_parts(folder: Path, files: int = 4, rows: int = 200) -> None:
    data = folder / "data" / "parts"
    data.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = ["part_id,qty,label"]
        lines += [f"{f * rows + i},{i % 9},p{f}-{i}" for i in range(rows)]
        (data / f"part_{f}.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(WS, tmp_path / "ws", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "ws"


@pytest.fixture
def celery_env(
    redis_url: str, database_url: str, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    base = redis_url.rsplit("/", 1)[0]
    url = f"{base}/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    env = {
        **os.environ,
        "POLARETL_DATABASE_URL": database_url,
        "POLARETL_REDIS_URL": url,
        "POLARETL_PROJECT": str(workspace),
        # a queue of its own: a worker left over from another session cannot take our tasks
        "POLARETL_QUEUE": f"polaretl-test-{uuid4().hex}",
    }
    for key in (
        "POLARETL_DATABASE_URL",
        "POLARETL_REDIS_URL",
        "POLARETL_PROJECT",
        "POLARETL_QUEUE",
    ):
        monkeypatch.setenv(key, env[key])
    # this process submits runs: point the (module-level) Celery app at the test Redis
    from polaretl.run.celery_app import configure

    configure(url)
    return env


class Workers:
    """`polaretl worker` / `polaretl beat` subprocesses, each in its own process group."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.workspace, self.env = workspace, env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, *args: str, extra_env: dict[str, str] | None = None, command: str = "worker"
    ) -> subprocess.Popen[bytes]:
        path = self.workspace / f"{command}-{len(self.procs)}.log"
        with open(path, "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "polaretl.cli",
                    command,
                    "--project",
                    str(self.workspace),
                    *args,
                ],
                env={**self.env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        if command == "worker":
            self._wait_ready(str(path))
        return proc

    def _wait_ready(self, log: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in Path(log).read_bytes():
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready:\n{Path(log).read_text()[-3000:]}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process group: the worker main process and its children."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)


@pytest.fixture
def workers(workspace: Path, celery_env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(workspace, celery_env)
    try:
        yield pool
    finally:
        pool.stop_all()


def table(url: str, name: str) -> list[tuple]:
    return query(url, f"SELECT part_id, qty, label FROM {name} ORDER BY part_id")


def test_four_slices_under_celery_equal_the_local_executor(workspace, workers, database_url):
    write_parts(workspace)
    workers.start("--concurrency", "2")
    run_id = pe.submit("parts", project=workspace)
    result = pe.wait(run_id, timeout=120)
    assert (result.status, result.processed, result.loaded) == ("succeeded", 800, 800), result.error
    assert result.metrics["slices"] == 4
    os.chdir(workspace)
    from polaretl.workspace import get_pipeline

    local = get_pipeline(workspace, "parts_local").run(database_url=database_url)
    assert local.loaded == 800
    assert table(database_url, "parts") == table(database_url, "parts_local")
    assert query(
        database_url,
        "SELECT count(*) FROM polaretl.slices WHERE run_id = %s AND status = 'succeeded'",
        (run_id,),
    ) == [(4,)]


def _wait_for(predicate, timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def _assert_exactly_once(url: str, run_id: int, rows: int) -> None:
    result = pe.wait(run_id, timeout=180)
    assert result.status == "succeeded", result.error
    assert query(url, "SELECT count(*), count(DISTINCT part_id) FROM parts") == [(rows, rows)]
    assert query(url, "SELECT sum(loaded) FROM polaretl.checkpoints")[0][0] == rows


def test_killed_worker_child_is_redelivered_and_loads_once(workspace, workers, database_url):
    write_parts(workspace, files=2, rows=400)  # 8 batches per slice
    workers.start("--concurrency", "2", extra_env={"POLARETL_TEST_SLOW": "0.3"})
    run_id = pe.submit("parts", project=workspace)
    worker = _wait_for(
        lambda: query(
            database_url,
            "SELECT s.worker FROM polaretl.slices s JOIN polaretl.checkpoints c "
            "ON c.slice = s.slice WHERE s.run_id = %s AND s.status = 'running' LIMIT 1",
            (run_id,),
        )
    )[0][0]
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)  # the pool child, mid-slice
    _assert_exactly_once(database_url, run_id, 800)
    attempts = query(
        database_url, "SELECT max(attempts) FROM polaretl.slices WHERE run_id = %s", (run_id,)
    )[0][0]
    assert attempts >= 2


def test_killed_worker_main_process_is_redelivered_after_visibility_timeout(
    workspace, workers, database_url, celery_env, monkeypatch
):
    write_parts(workspace, files=2, rows=300)
    short = {"POLARETL_VISIBILITY_TIMEOUT": "4", "POLARETL_TEST_SLOW": "0.2"}
    first = workers.start("--concurrency", "2", extra_env=short)
    run_id = pe.submit("parts", project=workspace)
    _wait_for(lambda: query(database_url, "SELECT 1 FROM polaretl.checkpoints LIMIT 1"))
    workers.kill(first)  # main process and children: nothing acknowledged
    workers.start("--concurrency", "2", extra_env=short)
    _assert_exactly_once(database_url, run_id, 600)


def test_the_same_slice_task_delivered_twice_loads_once(workspace, workers, database_url):
    write_parts(workspace, files=2, rows=100)
    run_id = pe.submit("parts", project=workspace)  # no worker yet: tasks wait in Redis
    from polaretl.run.tasks import slice_task

    slice_name = "data/parts/part_0.csv"
    os.chdir(workspace)
    first = slice_task.run("parts", run_id, slice_name)  # delivered by hand, twice
    second = slice_task.run("parts", run_id, slice_name)
    assert first["status"] == "succeeded" and second["status"] == "succeeded"
    workers.start("--concurrency", "1")  # ...and a third time by Redis
    _assert_exactly_once(database_url, run_id, 200)
    assert query(
        database_url, "SELECT count(*) FROM polaretl.checkpoints WHERE slice = %s", (slice_name,)
    ) == [(2,)]


def test_a_slice_that_always_kills_its_worker_fails_the_run_after_the_cap(
    workspace, workers, database_url, celery_env
):
    workers.start("--concurrency", "1", extra_env={"POLARETL_MAX_ATTEMPTS": "2"})
    run_id = pe.submit("doomed", project=workspace)
    result = pe.wait(run_id, timeout=120)
    assert result.status == "failed"
    assert "worker died each time" in result.error
    assert query(
        database_url,
        "SELECT slice, status, attempts FROM polaretl.slices WHERE run_id = %s ORDER BY slice",
        (run_id,),
    ) == [("die", "failed", 3), ("fine", "succeeded", 1)]
    broker = redis.Redis.from_url(celery_env["POLARETL_REDIS_URL"])
    _wait_for(lambda: broker.llen(celery_env["POLARETL_QUEUE"]) == 0, timeout=30)  # drained


def test_beat_fires_a_short_interval_schedule(workspace, workers, database_url):
    pe.runs(database_url=database_url)  # creates the polaretl schema the test polls
    workers.start("--concurrency", "1")
    workers.start(command="beat")
    workers.start(command="beat")  # two schedulers must not overlap runs
    _wait_for(
        lambda: query(
            database_url,
            "SELECT 1 FROM polaretl.runs WHERE pipeline = 'ticker' AND status = 'succeeded'",
        ),
        timeout=60,
    )
    running = query(
        database_url,
        "SELECT count(*) FROM polaretl.runs WHERE pipeline = 'ticker' AND status = 'running'",
    )[0][0]
    assert running <= 1


def test_celery_run_with_the_embedded_redis(workspace, database_url, monkeypatch):
    write_parts(workspace, files=2, rows=50)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLARETL_")}
    env["POLARETL_DATABASE_URL"] = database_url
    pool = Workers(workspace, env)
    try:
        pool.start("--concurrency", "1")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "polaretl.cli",
                "run",
                "parts",
                "--executor",
                "celery",
                "--json",
                "--project",
                str(workspace),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert '"loaded": 100' in proc.stdout
        assert (workspace / ".polaretl" / "redis.db").exists() or any(
            (workspace / ".polaretl").glob("redis*")
        )
    finally:
        pool.stop_all()
        from polaretl.run import broker

        broker.stop_embedded(workspace)
