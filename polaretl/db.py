"""Where the destination database is, and connections to it.

The URL comes from the caller, else ``POLARETL_DATABASE_URL``, else an embedded
PostgreSQL (the ``pgserver`` package) with its data under ``.polaretl/pgdata`` of the
workspace, so a new user runs a pipeline with nothing installed but the package.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from polaretl.errors import ConfigError, RecordError, TransientLoadError, is_transient
from polaretl.redact import redact_url, register_dsn
from polaretl.settings import current

#: Seconds to wait for a server to answer a new connection, unless the URL
#: (``connect_timeout``) or ``PGCONNECT_TIMEOUT`` says: one that accepts TCP and never
#: answers is an error, not a hang.
CONNECT_TIMEOUT = 10
STATE_DIR = ".polaretl"
_SERVERS: dict[str, Any] = {}


def embedded_url(workspace: str | Path = ".") -> str:
    """Start (or reuse) the embedded PostgreSQL of `workspace` and return its URL."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server
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
            _SERVERS[key] = get_server(data_dir, cleanup_mode="stop")
    return str(_SERVERS[key].get_uri())


def resolve_url(url: str | None = None, workspace: str | Path = ".") -> str:
    """The database URL to use: `url`, else the environment, else the embedded server."""
    resolved = url or current().database_url or embedded_url(workspace)
    register_dsn(resolved)
    return resolved


def parse(url: str) -> dict[str, Any]:
    """`url` (a URL or key=value pairs) as libpq reads it; a string libpq refuses is a
    `ConfigError` that quotes none of it (libpq's message would: "unexpected spaces
    found in "<password>"")."""
    try:
        return psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = re.sub(r'"[^\n]*"', '"***"', _first_line(exc))
        raise ConfigError(
            f"The database URL is not a connection string PostgreSQL accepts ({reason}). "
            "Write postgresql://USER:PASSWORD@HOST:PORT/DB with special characters "
            "percent-encoded (a space as %20), or key=value pairs with a quoted "
            "password='...', in --database-url / POLARETL_DATABASE_URL."
        ) from None  # the chained error would print the string


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection; an unreachable server is a clear error with the URL redacted."""
    register_dsn(url)
    parts = parse(url)
    try:
        options: dict[str, Any] = {"application_name": "polaretl"}
        if "connect_timeout" not in parts and not os.environ.get("PGCONNECT_TIMEOUT"):
            options["connect_timeout"] = CONNECT_TIMEOUT
        return psycopg.connect(url, autocommit=autocommit, **options)
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


class Link:
    """A connection to the destination that is replaced when it drops.

    Batches retried after a dropped connection or a restarted server go over a new one;
    everything after them uses `conn`, never a stale handle. `on_connect` runs on every
    new connection (the run's control connection re-takes its advisory lock there).
    """

    def __init__(
        self,
        url: str,
        conn: psycopg.Connection[Any] | None = None,
        *,
        on_connect: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self.url = url
        self.on_connect = on_connect
        self.conn = conn if conn is not None else connect(url, autocommit=True)

    def reconnect(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        """A new connection, waiting up to `timeout` seconds (``POLARETL_RECONNECT_TIMEOUT``)
        for the server to be back (a restart, a failover)."""
        try:
            self.conn.close()
        except psycopg.Error:
            pass
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_delay(current().reconnect_timeout if timeout is None else timeout),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt:
                self.conn = connect(self.url, autocommit=True)
        if self.on_connect is not None:
            self.on_connect(self.conn)
        return self.conn

    def ensure(self) -> psycopg.Connection[Any]:
        """The connection, replaced first if the server dropped it (probed, not assumed:
        an idle connection learns of a restart only when it is next used)."""
        try:
            self.conn.execute("SELECT 1")
        except psycopg.OperationalError:
            self.reconnect()
        return self.conn

    def close(self) -> None:
        self.conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
