"""Settings: every ``POLARETL_*`` variable is a field of `Settings`, documented in the one
table (docs/settings.md), read through `polaretl.settings` only, and never at import."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from polaretl import settings
from polaretl.errors import ConfigError
from tests.helpers import ROOT

NAME = re.compile(r"\bPOLARETL_[A-Z0-9_]*[A-Z0-9]\b(?!_?\*)")


def _table() -> set[str]:
    text = (ROOT / "docs" / "settings.md").read_text()
    return set(re.findall(r"^\| `(POLARETL_[A-Z0-9_]+)` \|", text, re.MULTILINE))


def test_the_table_lists_exactly_the_settings() -> None:
    assert _table() == set(settings.names())


def test_every_variable_named_in_the_code_is_in_the_table() -> None:
    named = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "polaretl").rglob("*.py")
        for name in NAME.findall(path.read_text())
        if name not in _table()
    }
    assert not named, f"variables missing from docs/settings.md: {sorted(named)}"


def test_only_the_settings_module_reads_them() -> None:
    reads = []
    for path in (ROOT / "polaretl").rglob("*.py"):
        if path == ROOT / "polaretl" / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            key = None
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                "os.environ.get",
                "os.getenv",
                "environ.get",
            ):
                key = node.args[0] if node.args else None
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and ast.unparse(node.value) in ("os.environ", "environ")
            ):
                key = node.slice
            if isinstance(key, ast.Constant) and str(key.value).startswith("POLARETL_"):
                reads.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not reads, f"read outside polaretl.settings: {reads}"


def test_nothing_is_read_at_import_time() -> None:
    """Every module imports with nonsense in every variable; asking for them then fails."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "polaretl").rglob("*.py")
        if "templates" not in p.parts and p.name != "main.py"  # main.py is a Streamlit page
    )
    env = {**os.environ, **dict.fromkeys(settings.names(), "not a value")}
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from polaretl.settings import current\n"
        "try:\n    current()\nexcept Exception as exc:\n    print(type(exc).__name__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ConfigError"


def test_a_bad_number_says_which_variable_and_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"POLARETL_MAX_ATTEMPTS='0' is not a positive whole"):
        settings.Settings.from_env({"POLARETL_MAX_ATTEMPTS": "0"})


def test_current_follows_a_changed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.current().queue == "polaretl"
    monkeypatch.setenv("POLARETL_QUEUE", "elsewhere")
    assert settings.current().queue == "elsewhere"
    assert settings.current() is settings.current()  # read again only after a change
