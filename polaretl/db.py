"""Where the destination database is, and connections to it.

The URL comes from the caller, else ``POLARETL_DATABASE_URL``, else an embedded
PostgreSQL (the ``pgserver`` package) with its data under ``.polaretl/pgdata`` of the
workspace, so a new user runs a pipeline with nothing installed but the package.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import psycopg

from polaretl.errors import ConfigError, RecordError, TransientLoadError
from polaretl.redact import redact_url

ENV_URL = "POLARETL_DATABASE_URL"
STATE_DIR = ".polaretl"
_SERVERS: dict[str, Any] = {}


def embedded_url(workspace: str | Path = ".") -> str:
    """Start (or reuse) the embedded PostgreSQL of `workspace` and return its URL."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a dependency
        raise ConfigError(
            "No database URL was given and the embedded PostgreSQL is not installed: "
            "set POLARETL_DATABASE_URL or `pip install pgserver`."
        ) from exc
    data_dir = Path(workspace).resolve() / STATE_DIR / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    key = str(data_dir)
    if key not in _SERVERS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # 'stop': the server stops when the last process using it exits
            _SERVERS[key] = pgserver.get_server(data_dir, cleanup_mode="stop")
    return str(_SERVERS[key].get_uri())


def resolve_url(url: str | None = None, workspace: str | Path = ".") -> str:
    """The database URL to use: `url`, else the environment, else the embedded server."""
    return url or os.environ.get(ENV_URL) or embedded_url(workspace)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection; an unreachable server is a clear error with the URL redacted."""
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name="polaretl")
    except psycopg.OperationalError as exc:
        raise TransientLoadError(
            f"Cannot connect to PostgreSQL at {redact_url(url)}: {_first_line(exc)}. "
            "Check that the server runs and the URL (--database-url / "
            "POLARETL_DATABASE_URL) is right.",
            url=redact_url(url),
        ) from exc
    except psycopg.Error as exc:
        raise RecordError(
            f"Cannot use PostgreSQL at {redact_url(url)}: {_first_line(exc)}",
            url=redact_url(url),
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
