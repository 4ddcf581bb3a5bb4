"""Every ``POLARETL_*`` environment variable, read into one `Settings`.

`current()` reads the environment the first time it is asked, and again only when a
``POLARETL_*`` variable has changed since (a test, or ``polaretl worker`` handing its
settings to the processes it starts); nothing is read when a module is imported. Code
asks `current()` where it uses a setting, never ``os.environ``. The variable of a setting
is ``POLARETL_`` and its name in capitals (`variable`); docs/settings.md is the table of
them all, which a test keeps complete.

Example:
    >>> s = Settings.from_env({"POLARETL_STALE_AFTER": "90", "POLARETL_QUEUE": "etl"})
    >>> s.stale_after, s.queue, s.max_attempts, s.database_url
    (90.0, 'etl', 3, None)
    >>> variable("database_url")
    'POLARETL_DATABASE_URL'
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from polaretl.errors import ConfigError

PREFIX = "POLARETL_"


@dataclass(frozen=True)
class Settings:
    """polaretl's settings; each field is read from ``POLARETL_<FIELD>``.

    Attributes:
        database_url: the destination database (else the workspace's embedded one).
        redis_url: the Celery broker and live progress (else the embedded Redis).
        project: the workspace a Celery worker's tasks run in (``polaretl worker`` sets it).
        queue: the Celery queue of pipelines that name none.
        stale_after: seconds without a heartbeat after which a Celery run counts as dead.
        visibility_timeout: seconds a delivered task may run before Redis hands it to
            another worker; longer than the longest slice.
        max_attempts: starts of a slice whose worker keeps dying before it is given up.
        reconnect_timeout: seconds a dropped connection waits for the server to be back.
        storage_retries: retries of a request to an object store (503 SlowDown, a dropped
            connection) before the read fails.
        storage_retry_seconds: the most seconds those retries may take in all.
        app_project: the workspace the ops app shows (``polaretl app`` sets it).
        app_password: the password the ops app asks for (none: no sign-in).
        alert_webhook_url, alert_slack_url, alert_smtp_url, alert_email_to,
        alert_email_from, alert_apprise_urls: the alert channels of pipelines whose
            rules name none (see `polaretl.alerts.settings`).
    """

    database_url: str | None = None
    redis_url: str | None = None
    project: Path | None = None
    queue: str = "polaretl"
    stale_after: float = 3600.0
    visibility_timeout: int = 6 * 3600
    max_attempts: int = 3
    reconnect_timeout: float = 60.0
    storage_retries: int = 10
    storage_retry_seconds: float = 120.0
    app_project: Path | None = None
    app_password: str | None = None
    alert_webhook_url: str | None = None
    alert_slack_url: str | None = None
    alert_smtp_url: str | None = None
    alert_email_to: str | None = None
    alert_email_from: str | None = None
    alert_apprise_urls: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: this process's environment); an empty
        variable counts as unset.

        Raises:
            ConfigError: a variable holds something its setting cannot take.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(variable(field.name), "")
            if raw != "":
                values[field.name] = _parse(field.name, str(field.type), raw)
        return cls(**values)  # type: ignore[arg-type]


def variable(name: str) -> str:
    """The environment variable of setting `name`."""
    return PREFIX + name.upper()


def names() -> list[str]:
    """Every variable polaretl reads, in the order of `Settings`' fields."""
    return [variable(f.name) for f in dataclasses.fields(Settings)]


_lock = threading.Lock()
_read: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def current() -> Settings:
    """This process's settings, as its environment holds them now."""
    global _read
    seen = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))
    with _lock:
        if _read is None or _read[0] != seen:
            _read = (seen, Settings.from_env(dict(seen)))
        return _read[1]


def _parse(name: str, kind: str, raw: str) -> object:
    if kind.startswith("Path"):
        return Path(raw)
    if kind in ("float", "int"):
        try:
            number = float(raw) if kind == "float" else int(raw)
        except ValueError:
            number = -1
        if number <= 0:
            what = "number" if kind == "float" else "whole number"
            raise ConfigError(
                f"{variable(name)}={raw!r} is not a positive {what}: fix it (see "
                f"docs/settings.md), or unset it for the default {getattr(Settings, name)}."
            )
        return number
    return raw
