"""The polaretl ops app: Streamlit pages over the ``polaretl`` schema.

`launch` is what ``polaretl app`` calls: it runs ``streamlit run polaretl/app/main.py``
as a subprocess, bound to 127.0.0.1 unless told otherwise, with the workspace, the
database URL and the optional password passed in the environment (never on the command
line, where other users of the machine could read them).

Layout: ``main.py`` (entry and navigation), one module per page (``overview.py``,
``runs.py``, ``run_detail.py``, ``quarantine.py``, ``schemas.py``, ``alerts.py``,
``runnow.py``), ``data.py`` (queries as Polars frames), ``actions.py`` (run now, replay,
discard), ``ui.py`` (shared widgets).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from polaretl import db
from polaretl.app.guard import allowed_hosts
from polaretl.net import is_loopback
from polaretl.settings import current

log = logging.getLogger("polaretl.app")

MAIN = Path(__file__).resolve().parent / "main.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def command(
    project_dir: str | Path = ".",
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    password: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for the app.

    The database URL is resolved here as the CLI resolves it (the argument, else
    ``POLARETL_DATABASE_URL``, else the workspace's embedded PostgreSQL, which then
    lives as long as this process).

    Example:
        >>> argv, env = command(".", "postgresql://u:pw@db/x", port=8600)
        >>> argv[1:4], argv[argv.index("--server.port") + 1], env["POLARETL_DATABASE_URL"]
        (['-m', 'streamlit', 'run'], '8600', 'postgresql://u:pw@db/x')
    """
    project = Path(project_dir).resolve()
    url = db.resolve_url(database_url, project)
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    for name in allowed_hosts(host):  # bound to loopback: loopback Host names only
        argv += ["--server.allowedHosts", name]
    env = {**os.environ, "POLARETL_DATABASE_URL": url, "POLARETL_APP_PROJECT": str(project)}
    password = password or current().app_password
    if password:
        env["POLARETL_APP_PASSWORD"] = password
    return argv, env


def start(
    project_dir: str | Path = ".",
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    password: str | None = None,
    **popen: object,
) -> subprocess.Popen[bytes]:
    """Start the app in the background; the caller stops it (``terminate()``)."""
    argv, env = command(project_dir, database_url, host, port, password)
    return subprocess.Popen(argv, env=env, cwd=Path(project_dir).resolve(), **popen)  # type: ignore[call-overload, no-any-return]


def launch(
    project_dir: str | Path = ".",
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    password: str | None = None,
) -> int:
    """Run the app until it is stopped (Ctrl-C); return Streamlit's exit code.

    Args:
        project_dir: the workspace (its pipelines feed "Run now" and the Alerts page).
        database_url: the database to read (default: as the CLI resolves it).
        host: the address to listen on: 127.0.0.1 (this machine only) unless you mean to
            share the app; then set a password.
        port: the port to listen on.
        password: asked before any page shows (else ``POLARETL_APP_PASSWORD``, else none).
    """
    if not is_loopback(host) and not (password or current().app_password):
        log.warning(
            "The ops app listens on %s without a password: anyone who reaches this machine "
            "can see runs and quarantined records and start runs. Set POLARETL_APP_PASSWORD.",
            host,
        )
    proc = start(project_dir, database_url, host, port, password)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill PID` (a service manager, a container stop) ends the app too, not just us
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["command", "launch", "start"]
