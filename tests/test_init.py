"""`polaretl init` makes a workspace that runs at once."""

import pytest
from click.testing import CliRunner

from polaretl.cli import main
from polaretl.errors import ConfigError
from polaretl.init import init_workspace


def test_init_then_run(tmp_path, database_url):
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "run",
            "orders",
            "--json",
            "--project",
            str(tmp_path / "ws"),
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"processed": 22' in result.stdout and '"rejected": 2' in result.stdout


def test_init_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        init_workspace(tmp_path)
