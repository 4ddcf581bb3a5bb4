"""`polaretl init DIR`: a new workspace with an example contract, connector and data."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from polaretl.errors import ConfigError


def init_workspace(target: str | Path) -> list[Path]:
    """Copy the example workspace into `target` (new or empty); return the files made.

    Example:
        >>> import tempfile
        >>> made = init_workspace(Path(tempfile.mkdtemp()) / "ws")
        >>> sorted(p.name for p in made if p.suffix == ".py")
        ['__init__.py', '__init__.py', 'orders.py', 'orders.py']
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(
            f"{target} exists and is not empty; polaretl init makes a new workspace. "
            "Pick a new folder name."
        )
    template = resources.files("polaretl") / "templates" / "workspace"
    with resources.as_file(template) as source:
        shutil.copytree(
            source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    (target / ".gitignore").write_text(".polaretl/\n__pycache__/\n")
    return sorted(p for p in target.rglob("*") if p.is_file())
