"""Redis or PostgreSQL not there: a clear polaretl error in seconds, never a hang.

Two kinds of "not there": a closed port (refused at once) and a port that accepts the
TCP connection and then never answers (a stuck server, the wrong service), which without
a timeout waits forever.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import polaretl as pe
from tests.helpers import ROOT, query

PASSWORD = "hunter2-redis-pw"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for folder in ("connectors", "contracts", "data"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def polaretl_cli(workspace: Path, env: dict[str, str], *args: str) -> tuple[int, str, float]:
    """Exit code, stdout + stderr and seconds of `polaretl ARGS` (killed after 60 s)."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "polaretl.cli", *args, "--project", str(workspace)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("POLARETL_")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def assert_redis_message(out: str, port: int) -> None:
    assert f"Cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in out, out
    assert "Start Redis" in out and "unset POLARETL_REDIS_URL" in out, out
    assert PASSWORD not in out, out
    assert "Traceback" not in out, out


def no_run_recorded(url: str) -> bool:
    tables = query(url, "SELECT to_regclass('polaretl.runs')")[0][0]
    return tables is None or query(url, "SELECT count(*) FROM polaretl.runs") == [(0,)]


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["closed", pytest.param("silent", marks=pytest.mark.slow)])
def test_run_on_celery_with_redis_unreachable_fails_fast_and_says_what_to_do(
    kind: str, workspace: Path, database_url: str, request: pytest.FixtureRequest
) -> None:
    port = closed_port() if kind == "closed" else request.getfixturevalue("silent_port")
    env = {
        "POLARETL_DATABASE_URL": database_url,
        "POLARETL_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
    }
    code, out, seconds = polaretl_cli(workspace, env, "run", "orders", "--executor", "celery")
    assert code == 1, out
    assert_redis_message(out, port)
    assert seconds < 30, f"took {seconds:.1f} s"
    assert no_run_recorded(database_url)  # refused before a run was begun


@pytest.mark.postgres
def test_submit_with_redis_unreachable_raises_a_polaretl_error(
    workspace: Path, database_url: str
) -> None:
    from polaretl.run.celery_app import app, configure

    before = app.conf.broker_url
    port = closed_port()
    started = time.monotonic()
    try:
        with pytest.raises(pe.PolaretlError) as info:
            pe.submit(
                "orders",
                project=workspace,
                database_url=database_url,
                redis_url=f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
            )
    finally:
        if before:  # the Celery app is per process: leave it as other tests had it
            configure(before)
    assert time.monotonic() - started < 20
    assert_redis_message(str(info.value), port)
    assert no_run_recorded(database_url)


@pytest.mark.postgres
@pytest.mark.slow
def test_run_with_postgres_silent_fails_within_the_connect_timeout(
    workspace: Path, silent_port: int
) -> None:
    """(A closed port is tests/test_cli.py::test_unreachable_database_is_a_clear_error...)"""
    from polaretl.db import CONNECT_TIMEOUT

    url = f"postgresql://bob:{PASSWORD}@127.0.0.1:{silent_port}/nowhere"
    code, out, seconds = polaretl_cli(workspace, {"POLARETL_DATABASE_URL": url}, "run", "orders")
    assert code == 1, out
    assert f"Cannot connect to PostgreSQL at postgresql://bob:***@127.0.0.1:{silent_port}" in out
    assert "timeout" in out.lower() and "Check that the server runs" in out, out
    assert PASSWORD not in out and "Traceback" not in out, out
    assert seconds < CONNECT_TIMEOUT + 15, f"took {seconds:.1f} s"


def test_a_connect_timeout_in_the_url_is_kept(silent_port: int) -> None:
    from polaretl.db import connect

    started = time.monotonic()
    with pytest.raises(pe.PolaretlError, match="Cannot connect to PostgreSQL"):
        connect(f"postgresql://bob@127.0.0.1:{silent_port}/x?connect_timeout=2")
    assert 1.5 < time.monotonic() - started < 8
