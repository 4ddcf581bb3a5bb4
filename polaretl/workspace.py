"""A workspace: a folder with ``connectors/`` and ``contracts/``.

`load_pipelines` imports every ``connectors/*.py`` with the workspace root on
``sys.path`` (so ``from contracts.orders import Order`` works) and collects the
`Pipeline` objects they define, by name.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from polaretl.definition import Definition
from polaretl.errors import ConfigError, PipelineNotFoundError


def find_root(start: str | Path = ".") -> Path:
    """The workspace root: `start` or the nearest parent with a ``connectors/`` folder."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "connectors").is_dir():
            return folder
    raise ConfigError(
        f"{here} is not a polaretl workspace (no connectors/ folder here or above). "
        "Run `polaretl init DIR` to make one, or pass --project DIR."
    )


def load_pipelines(root: str | Path, *, strict: bool = True) -> dict[str, Definition]:
    """Every pipeline defined in ``ROOT/connectors/*.py``, by name.

    With `strict`, a connector that fails to import is an error; without, it is skipped
    and its error kept in `load_errors` (so one broken connector does not stop the
    others from running).
    """
    pipelines, errors = _load(Path(root).resolve())
    if errors and strict:
        raise errors[0]
    return pipelines


def load_errors(root: str | Path) -> list[ConfigError]:
    """The connectors of the workspace that fail to import, as errors."""
    return _load(Path(root).resolve())[1]


def _load(root: Path) -> tuple[dict[str, Definition], list[ConfigError]]:
    if sys.path[:1] != [str(root)]:
        if str(root) in sys.path:
            sys.path.remove(str(root))
        sys.path.insert(0, str(root))
    _forget_other_workspace(root)
    found: dict[str, Definition] = {}
    errors: list[ConfigError] = []
    for path in sorted((root / "connectors").glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            module = _import(root, path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        for value in vars(module).values():
            if isinstance(value, Definition):
                other = found.get(value.name)
                if other is not None and other is not value:
                    raise ConfigError(
                        f"Two pipelines are named {value.name!r} (one in {path.name}); "
                        "pipeline names must be unique in a workspace."
                    )
                found[value.name] = value
    return found, errors


def _forget_other_workspace(root: Path) -> None:
    """If another workspace's ``contracts``/``connectors`` packages were imported in this
    process (a notebook or a test that loads two workspaces), drop them from the module
    cache so this workspace's own are imported; objects already made keep working."""
    for package in ("contracts", "connectors"):
        module = sys.modules.get(package)
        paths = [Path(p).resolve() for p in getattr(module, "__path__", [])]
        if module is not None and root / package not in paths:
            for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
                del sys.modules[name]


def _import(root: Path, path: Path) -> Any:
    module_name = f"connectors.{path.stem}"
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(
            f"Cannot load {path.relative_to(root)}: {type(exc).__name__}: {exc} "
            f"(at {Path(frame.filename).name}:{frame.lineno}). Fix the connector or "
            "the contract it imports.",
            file=str(path),
            line=frame.lineno,
        ) from exc
    return module


def get_pipeline(root: str | Path, name: str) -> Definition:
    """The pipeline called `name`, or an error that suggests close names."""
    pipelines, errors = _load(Path(root).resolve())
    if name in pipelines:
        return pipelines[name]
    close = difflib.get_close_matches(name, list(pipelines), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    known = ", ".join(sorted(pipelines)) or "none"
    broken = "".join(f" It may be in a connector that does not load: {e}" for e in errors)
    raise PipelineNotFoundError(
        f"No pipeline named {name!r} in {Path(root) / 'connectors'}.{hint} "
        f"(pipelines: {known}).{broken}",
        name=name,
    )
