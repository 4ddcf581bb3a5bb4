"""The data-quality commands in a real workspace (the repository's example)."""

import json
import shutil

import click
import polars as pl
import pytest
from click.testing import CliRunner

from polaretl.cli import main
from polaretl.cli_quality import register
from tests.helpers import ROOT, query


@pytest.fixture
def workspace(tmp_path):
    for folder in ("connectors", "contracts", "data"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


@pytest.fixture
def cli(workspace, database_url):
    group = click.Group(commands=main.commands)  # the main group's commands, plus ours
    register(group)
    common = ["--project", str(workspace), "--database-url", database_url]

    def invoke(*args):
        result = CliRunner().invoke(group, [*args, *common], catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def test_quarantine_list_export_replay_discard_schema_lineage(cli, workspace, database_url):
    code, out = cli("run", "orders", "--json")
    assert code == 0, out
    code, out = cli("quarantine", "list", "orders", "--json")
    listed = json.loads(out)
    assert listed["total"] == 11
    assert {"column": "order_id", "check": "field_uniqueness", "records": 2} in listed["reasons"]
    code, out = cli("quarantine", "list", "orders", "--column", "amount", "--json")
    assert json.loads(out)["total"] == 2  # negative amount, missing amount
    code, out = cli("quarantine", "list", "orders")
    assert code == 0 and "11 quarantined record(s) of orders" in out

    target = workspace / "fix.csv"
    code, out = cli("quarantine", "export", "orders", "--column", "amount", "-o", str(target))
    assert code == 0 and "wrote 2 record(s)" in out
    fix = pl.read_csv(target, infer_schema=False)
    fix = fix.with_columns(amount=pl.when(pl.col("order_id") == "42").then(pl.lit("3.50"))
                           .otherwise("amount"))  # fmt: skip
    fix.write_csv(target)
    code, out = cli("quarantine", "replay", "orders", "--file", str(target), "--json")
    assert code == 0, out
    replayed = json.loads(out)
    assert (replayed["pipeline"], replayed["loaded"], replayed["rejected"]) == (
        "orders:replay",
        1,
        1,
    )
    assert query(database_url, "SELECT amount FROM orders WHERE order_id = 42") == [(3.5,)]

    code, out = cli("lineage", "orders", "42")
    assert code == 0
    loaded, quarantined = out.strip().splitlines()
    assert loaded.startswith("loaded ") and "(orders:replay, succeeded)" in loaded
    assert "replayed from quarantine record" in loaded
    assert "orders_2026-11-01.csv:43" in quarantined and "greater_than_or_equal_to(0)" in (
        quarantined
    )
    code, out = cli("lineage", "orders", "order_id=48", "--json")
    assert json.loads(out)[0]["source"].endswith("orders_2026-11-01.csv:49")

    pending = query(
        database_url, "SELECT id FROM polaretl.quarantine WHERE raw->>'order_id' = '45'"
    )
    code, out = cli("quarantine", "discard", "orders", "--ids", str(pending[0][0]),
                    "--reason", "amount unknown")  # fmt: skip
    assert code == 0 and "discarded 1 record(s)" in out
    code, out = cli("quarantine", "list", "orders", "--status", "discarded", "--json")
    assert json.loads(out)["records"][0]["discard_reason"] == "amount unknown"

    code, out = cli("schema", "orders", "--json")
    versions = json.loads(out)
    assert [v["version"] for v in versions] == [1, 2]  # the second file has a new column
    assert json.loads(versions[1]["added"]) == [
        {"column": "channel", "type": "text", "in_contract": False}
    ]
    code, out = cli("schema", "orders")
    assert "added channel (text)" in out


def test_errors_are_clear(cli):
    code, out = cli("quarantine", "replay", "nope")
    assert code == 1 and "No pipeline named 'nope'" in out
    code, out = cli("quarantine", "discard", "orders", "--reason", "x")
    assert code == 1 and "Say which records" in out
    code, out = cli("lineage", "orders", "1")
    assert code == 1 and "There is no table orders in this database" in out


def test_quarantine_table_shows_brackets_in_checks_and_values(cli, database_url):
    code, out = cli("run", "orders", "--json")
    assert code == 0, out
    reason = {
        "column": "note",
        "check": "str_matches('^[a-z]+$')",
        "value": "[b]x[/b]",
        "message": "column note: '[b]x[/b]' fails str_matches('^[a-z]+$')",
    }
    query(
        database_url,
        "UPDATE polaretl.quarantine SET errors = %s::jsonb "
        "WHERE id = (SELECT min(id) FROM polaretl.quarantine)",
        (json.dumps([reason]),),
    )
    code, out = cli("quarantine", "list", "orders")
    assert code == 0
    assert "[a-z]" in out  # not eaten as markup
    assert "[b]x[/b]" in out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("quarantine", "discard", "orders", "--ids", "1) or (1=1", "--reason", "x"),
            "Invalid value for '--ids': '1) or (1=1' is not a record id: give whole numbers "
            "from 1, comma-separated, e.g. --ids 4,7,12.",
        ),
        (
            ("quarantine", "discard", "orders", "--ids", "2,99999999999999999999", "--reason", "x"),
            "Invalid value for '--ids': '99999999999999999999' is not a record id",
        ),
        (
            ("quarantine", "discard", "orders", "--ids", "-1", "--reason", "x"),
            "Invalid value for '--ids': '-1' is not a record id",
        ),
        (
            ("quarantine", "discard", "orders", "--run", "0", "--reason", "x"),
            "Invalid value for '--run': 0 is not in the range 1<=x<=9223372036854775807.",
        ),
        (("quarantine", "list", "orders", "--limit", "-5"), "Invalid value for '--limit': -5"),
        (("quarantine", "list", "orders", "--run", "x"), "Invalid value for '--run': 'x'"),
        (("quarantine", "replay", "orders", "--run", "1.5"), "Invalid value for '--run': '1.5'"),
        (("runs", "--limit", "0"), "Invalid value for '--limit': 0 is not in the range"),
        (("show", str(2**63)), "Invalid value for 'RUN_ID': 9223372036854775808 is not in"),
        (("app", "--port", "70000"), "Invalid value for '--port': 70000 is not in the range"),
        (("worker", "--concurrency", "0"), "Invalid value for '--concurrency': 0 is not in"),
    ],
)
def test_ids_and_numbers_are_checked_before_anything_runs(cli, database_url, args, said):
    code, out = cli(*args)
    assert code == 2, out  # click's usage error: no traceback, nothing done
    assert said in " ".join(out.split())
    assert "Traceback" not in out


def test_discard_takes_ids_with_spaces_and_repeats(cli, database_url):
    code, out = cli("run", "orders")
    assert code == 0, out
    ids = [r[0] for r in query(database_url, "SELECT id FROM polaretl.quarantine ORDER BY id")]
    assert len(ids) >= 3
    code, out = cli(
        "quarantine",
        "discard",
        "orders",
        "--ids",
        f"{ids[0]}, {ids[1]}",
        "--ids",
        str(ids[2]),
        "--reason",
        "checked by hand",
    )
    assert code == 0 and "discarded 3 record(s) of orders" in out
