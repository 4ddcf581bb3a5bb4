"""Helpers for the data-quality tests: CSV files, and one database per test module.

Creating and dropping a database costs about a second on a busy server, so tests that
cannot disturb each other (their own pipeline names and tables) share one per module
(`module_database_url`); the others use the per-test `database_url`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def module_database_url(pg_dsn: str) -> Iterator[str]:
    """A new, empty database shared by the tests of one module; dropped afterwards."""
    name = f"polaretl_q_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(pg_dsn, dbname=name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def name() -> str:
    """A pipeline and table name of this test's own, in a shared database."""
    return "t_" + uuid.uuid4().hex[:10]
