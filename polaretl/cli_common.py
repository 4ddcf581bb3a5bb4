"""What every ``polaretl`` command shares: the workspace and database options, settings,
the consoles and the way errors end a command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from polaretl import db
from polaretl.errors import PolaretlError
from polaretl.redact import redact_text
from polaretl.settings import current
from polaretl.workspace import find_root

console = Console(stderr=True)
out = Console()


class Settings:
    """--project and --database-url, resolved lazily."""

    def __init__(self, project: str | None, database_url: str | None) -> None:
        self.project = project
        self.database_url = database_url

    @property
    def root(self) -> Path:
        """The workspace root; commands run there, so connectors' relative paths
        (``data/orders/*.csv``) mean the same from any folder."""
        root = find_root(self.project or ".")
        os.chdir(root)
        return root

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return db.resolve_url(None, self.root)


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--database-url",
        default=lambda: current().database_url,
        help="Destination database (default: the embedded one under .polaretl/).",
    )(fn)
    fn = click.option("--project", default=None, help="The workspace folder (default: here).")(fn)
    return fn


def fail(exc: PolaretlError) -> None:
    console.print(f"[bold red]error:[/] {redact_text(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(1)
