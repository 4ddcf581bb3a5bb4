"""Docs that must not drift from the code."""

from polaretl.clidoc import reference
from tests.helpers import ROOT


def test_cli_reference_is_current(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert (ROOT / "docs" / "cli.md").read_text() == reference(), (
        "docs/cli.md is stale: run `COLUMNS=100 python -m polaretl.clidoc > docs/cli.md`"
    )
