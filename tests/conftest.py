"""Shared fixtures: real PostgreSQL and Redis, one fresh database per test."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.s3server import Bucket, MotoS3

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The server the tests use: POLARETL_TEST_PG_DSN or the machine's PostgreSQL."""
    return os.environ.get("POLARETL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("POLARETL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _with_dbname(dsn: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


@pytest.fixture
def database_url(pg_dsn: str) -> Iterator[str]:
    """A new, empty database for this test alone; dropped afterwards."""
    name = f"polaretl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_dbname(pg_dsn, name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoS3]:
    """A real S3-compatible server (moto, signatures checked) for the session."""
    server = MotoS3().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket for this test, and the standard AWS variables pointing at it."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return Bucket.create(s3_server)


_WORKSPACE_PACKAGES = ("contracts", "connectors")


@pytest.fixture(scope="session")
def _pristine_modules() -> tuple[list[str], dict[str, object]]:
    """`sys.path` and this repository's `contracts`/`connectors` modules after collection."""
    return list(sys.path), {
        n: m for n, m in sys.modules.items() if n.split(".")[0] in _WORKSPACE_PACKAGES
    }


@pytest.fixture(autouse=True)
def workspace_modules(_pristine_modules: tuple[list[str], dict[str, object]]) -> Iterator[None]:
    """After each test, this repository's `contracts`/`connectors` and `sys.path` again:
    loading another workspace in-process (a test, or a module fixture) swaps them (see
    polaretl.workspace), and a contract imported at collection resolves its annotations
    through its module when first used."""
    yield
    path, saved = _pristine_modules
    sys.path[:] = path
    for name in [n for n in sys.modules if n.split(".")[0] in _WORKSPACE_PACKAGES]:
        del sys.modules[name]
    sys.modules.update(saved)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's polaretl settings, and get their cwd back."""
    monkeypatch.chdir(os.getcwd())
    for key in list(os.environ):
        if key.startswith("POLARETL_") and not key.startswith("POLARETL_TEST_"):
            monkeypatch.delenv(key)


#: where the fault scenarios live (crashes, delivery, hostile input, secrets)
FAULT_SUITES = ("tests/faults/", "tests/run/")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the fault scenarios that ran, for the tally printed at the end."""
    from tests.faults import invariants

    if report.when == "call" and report.nodeid.startswith(FAULT_SUITES):
        invariants.HELD["scenarios"] += 1
        if report.passed:
            invariants.HELD["passed"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.faults import invariants

    held = invariants.HELD
    if held["scenarios"]:
        terminalreporter.write_line(
            f"fault scenarios: {held['passed']} of {held['scenarios']} passed; "
            f"invariant checks (A-D) held: {held['checks']}"
        )
