"""A workspace and a database with real runs for the ops app's tests.

`seed` runs real pipelines (the example orders, a growing events feed whose last file
is short and has a new column, a source that fails) so the app has history, quarantine,
schema versions, alerts and failures to show.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from streamlit.testing.v1 import app_test

from tests.helpers import ROOT, copy_example_orders, orders_csv

CONNECTOR = '''
from pathlib import Path

import polaretl as pe
from polaretl.alerts import FailureRate, Log, RunFailed, SchemaChange, VolumeDrop, Webhook
from contracts.orders import Order

HERE = Path(__file__).resolve().parent.parent
DEAD_HOOK = "http://127.0.0.1:{dead_port}/hooks/ops?token=s3cr3t-t0ken"


class Broken(pe.Extractor):
    """A source that cannot be read (its server is down)."""

    def read(self, slice, state, chunk_size):
        raise pe.ExtractError("GET https://legacy.example/export: 503 Service Unavailable")
        yield


orders = pe.Pipeline(
    "orders",
    extractor=pe.CsvExtractor(str(HERE / "data/orders/*.csv"), null_values=["", "NA"]),
    contract=Order,
    loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    alerts=[FailureRate(above=0.05, cooldown=0), Log()],
)
events = pe.Pipeline(
    "events",
    extractor=pe.CsvExtractor(str(HERE / "data/events/*.csv")),
    contract=Order,
    loader=pe.PostgresLoader("events", key="order_id", mode="upsert"),
    alerts=[VolumeDrop(below=0.5), FailureRate(above=0.05), SchemaChange()],
)
legacy = pe.Pipeline(
    "legacy",
    extractor=Broken(),
    contract=Order,
    loader=pe.PostgresLoader("legacy"),
    alerts=[RunFailed(channels=[Webhook(DEAD_HOOK, timeout=2), Log()])],
)
'''


def make_workspace(root: Path, dead_port: int) -> Path:
    """A workspace with the orders, events and legacy pipelines."""
    (root / "connectors").mkdir(parents=True)
    shutil.copytree(
        ROOT / "contracts", root / "contracts", ignore=shutil.ignore_patterns("__pycache__")
    )
    copy_example_orders(root / "data")
    (root / "data" / "events").mkdir()
    (root / "connectors" / "pipelines.py").write_text(CONNECTOR.format(dead_port=dead_port))
    return root


def seed(root: Path, url: str) -> dict[str, int]:
    """Run the workspace's pipelines to fill `url`; return some run ids by name."""
    import polaretl as pe
    from polaretl.workspace import load_pipelines

    pipelines = load_pipelines(root)
    ids: dict[str, int] = {}
    ids["orders"] = pipelines["orders"].run(database_url=url).run_id
    ids["orders_again"] = pipelines["orders"].run(database_url=url, full_refresh=True).run_id
    start = 1
    for n in (300, 320, 280, 90):  # the last one drops below half the median: VolumeDrop
        path = orders_csv(root / "data" / "events" / f"e{start}.csv", n, start=start, bad_every=97)
        if n == 90:  # and it has a new column: a schema change
            lines = path.read_text().splitlines()
            path.write_text(
                "\n".join([lines[0] + ",channel"] + [x + ",web" for x in lines[1:]]) + "\n"
            )
        ids["events"] = pipelines["events"].run(database_url=url).run_id
        start += n
    with pytest.raises(pe.RunFailedError):
        pipelines["legacy"].run(database_url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        ids["legacy"] = conn.execute(
            "SELECT max(run_id) FROM polaretl.runs WHERE pipeline = 'legacy'"
        ).fetchone()[0]
    return ids


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("ws") / "shop", free_port())


@pytest.fixture(scope="module")
def app_db(pg_dsn: str, workspace: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """A database (for this module's tests) holding the seeded runs, and their ids."""
    name = f"polaretl_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(pg_dsn, dbname=name)
    try:
        yield url, seed(workspace, url)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, app_db, workspace: Path) -> dict[str, int]:
    """Point the app at the seeded database and workspace; return the run ids."""
    url, ids = app_db
    monkeypatch.setenv("POLARETL_DATABASE_URL", url)
    monkeypatch.setenv("POLARETL_APP_PROJECT", str(workspace))
    return ids


@pytest.fixture(scope="session", autouse=True)
def _streamlit_tmp_dir() -> Iterator[None]:
    """AppTest keeps a module-level temporary folder; remove it before exit (else Python
    warns about an implicit cleanup at shutdown)."""
    yield
    app_test.TMP_DIR.cleanup()
