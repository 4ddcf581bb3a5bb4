"""The CLI in a real workspace: run, list, runs, show, exit codes, --json."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from polaretl.cli import main
from tests.helpers import ROOT


@pytest.fixture
def workspace(tmp_path):
    for folder in ("connectors", "contracts", "data"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def cli(*args):
    """Exit code and stdout (JSON goes there); messages and warnings go to stderr."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def cli_messages(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_run_list_runs_show(workspace, database_url):
    common = ["--project", str(workspace), "--database-url", database_url]
    code, out = cli("run", "orders", "--json", *common)
    assert code == 0, out
    result = json.loads(out)
    assert (result["status"], result["processed"], result["loaded"]) == ("succeeded", 82, 71)
    code, out = cli("list", "--json", *common)
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["orders"]["last_status"] == "succeeded"
    assert listed["orders"]["schedule"] == "*/30 * * * *"
    code, out = cli("runs", "orders", "--json", *common)
    assert [r["run_id"] for r in json.loads(out)] == [result["run_id"]]
    code, out = cli("show", str(result["run_id"]), "--json", *common)
    shown = json.loads(out)
    assert shown["rejected"] == 11
    assert {"column": "order_id", "check": "field_uniqueness", "count": 2} in shown["rejections"]
    code, out = cli("show", str(result["run_id"]), *common)
    assert code == 0 and "rejected 11" in out


def test_unknown_pipeline_suggests_names(workspace, database_url):
    code, out = cli_messages(
        "run", "order", "--project", str(workspace), "--database-url", database_url
    )
    assert code == 1 and "Did you mean orders?" in out


def test_failed_run_exits_1_and_names_the_run(workspace, database_url):
    (workspace / "data" / "orders").rename(workspace / "data" / "gone")
    code, out = cli_messages(
        "run", "orders", "--project", str(workspace), "--database-url", database_url
    )
    assert code == 1 and "No file matches" in out


def test_unreachable_database_is_a_clear_error_with_the_password_hidden(workspace):
    url = "postgresql://bob:hunter2@127.0.0.1:1/nowhere"
    code, out = cli_messages("runs", "--project", str(workspace), "--database-url", url)
    assert code == 1 and "Cannot connect to PostgreSQL" in out
    assert "hunter2" not in out and "bob:***@127.0.0.1:1" in out


@pytest.mark.slow
def test_embedded_postgres_runs_the_example_end_to_end(workspace):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLARETL_")}
    proc = subprocess.run(
        [sys.executable, "-m", "polaretl.cli", "run", "orders", "--json"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["loaded"] == 71
    assert (workspace / ".polaretl" / "pgdata" / "PG_VERSION").exists()
