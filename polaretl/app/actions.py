"""What the ops app does (as opposed to shows): start a run, replay or discard records.

Runs start through ``polaretl.api.submit`` (the Celery workers) when the caller picks
that, else as a detached ``polaretl run NAME`` process on this machine, whose run id is
found in ``polaretl.runs`` by its host and pid. Replay and discard go through
``polaretl.api``; the app never writes records itself.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from polaretl import api, db
from polaretl.app import data
from polaretl.errors import ConfigError
from polaretl.record.quarantine import QuarantineStatus
from polaretl.record.runs import RunResult

LOCAL = "local"
CELERY = "celery"


@dataclass(frozen=True)
class Launch:
    """A run the app started: its run id once known; for a local process, pid and log."""

    pipeline: str
    executor: str
    run_id: int | None = None
    pid: int | None = None
    log: Path | None = None
    after_run_id: int = 0


def run_now(pipeline: str, *, project: str | Path, database_url: str, executor: str) -> Launch:
    """Start a run of `pipeline` and return at once.

    Args:
        executor: ``celery`` (``polaretl.api.submit``; needs ``polaretl worker`` running)
            or ``local`` (a detached ``polaretl run`` process on this machine).
    """
    root = Path(project).resolve()
    if executor == CELERY:
        run_id = api.submit(pipeline, project=root, database_url=database_url)
        return Launch(pipeline, CELERY, run_id=int(run_id))
    if executor != LOCAL:
        raise ConfigError(f"Unknown executor {executor!r}: use {LOCAL!r} or {CELERY!r}.")
    after = data.latest_run_id(database_url)
    logs = root / db.STATE_DIR / "app-runs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = logs / f"{pipeline}-{stamp}.log"
    # the URL goes by environment, not argv: other users of the machine can read argv
    env = {**os.environ, "POLARETL_DATABASE_URL": database_url}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polaretl.cli", "run", pipeline, "--project", str(root)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: the run goes on if the app stops
        )
    # reap it when it ends, so a long-lived app leaves no zombies behind
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return Launch(pipeline, LOCAL, pid=proc.pid, log=log, after_run_id=after)


def find_run(url: str, launch: Launch) -> int | None:
    """The run id of a launched run, once its row is in ``polaretl.runs``."""
    if launch.run_id is not None:
        return launch.run_id
    if launch.pid is None:
        return None
    return data.run_started_by(
        url,
        launch.pipeline,
        host=socket.gethostname(),
        pid=launch.pid,
        after=launch.after_run_id,
    )


def is_alive(pid: int) -> bool:
    """Whether a process we started is still running (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_run(url: str, launch: Launch, *, timeout: float = 10.0) -> int | None:
    """Poll for the launched run's id up to `timeout` seconds; None if not there (yet)."""
    deadline = time.monotonic() + timeout
    while True:
        run_id = find_run(url, launch)
        if run_id is not None or time.monotonic() >= deadline:
            return run_id
        if launch.pid is not None and not is_alive(launch.pid):
            return find_run(url, launch)  # it ended: its row is there, or it never ran
        time.sleep(0.2)


def log_tail(launch: Launch, lines: int = 20) -> str:
    """The end of a local run's output (why it did not start, for instance)."""
    if launch.log is None or not launch.log.exists():
        return ""
    return "\n".join(launch.log.read_text(errors="replace").splitlines()[-lines:])


def editable(
    pipeline: str, *, database_url: str, project: str | Path, column: str | None, check: str | None
) -> pl.DataFrame:
    """Pending records in the export layout (``_quarantine_id``, one text column per raw
    field, ``_quarantine_*`` context) for editing."""
    return api.quarantine(
        pipeline,
        fields=True,
        status=QuarantineStatus.PENDING,
        column=column,
        check=check,
        database_url=database_url,
        workspace=project,
    )


def changed_rows(original: pl.DataFrame, edited: pl.DataFrame, key: str) -> pl.DataFrame:
    """The rows of `edited` whose values differ from `original` (matched by `key`).

    Example:
        >>> a = pl.DataFrame({"_id": [1, 2], "x": ["a", "b"]})
        >>> changed_rows(a, a.with_columns(x=pl.Series(["a", "c"])), "_id").rows()
        [(2, 'c')]
    """
    fields = [c for c in edited.columns if c != key]
    if not fields or edited.height == 0:
        return edited.clear()
    joined = edited.join(original, on=key, how="left", suffix="__before")
    differs = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"{c}__before")) for c in fields if c in original.columns]
        or [pl.lit(True)]
    )
    return joined.filter(differs).select(edited.columns)


def replay(
    pipeline: str,
    ids: list[int],
    *,
    database_url: str,
    project: str | Path,
    corrections: pl.DataFrame | None = None,
) -> RunResult:
    """Re-ingest quarantined records through ``polaretl.api.replay``: records `ids` as
    stored, or the rows of `corrections` (the export layout, edited)."""
    return api.replay(
        pipeline,
        ids=ids,
        corrections=corrections,
        database_url=database_url,
        workspace=Path(project),
    )


def discard(
    pipeline: str, ids: list[int], *, reason: str, database_url: str, project: str | Path
) -> int:
    """Discard quarantined records `ids` with a reason through ``polaretl.api.discard``."""
    if not reason.strip():
        raise ConfigError("Give a reason to discard records.")
    return api.discard(
        pipeline, ids=ids, reason=reason, database_url=database_url, workspace=Path(project)
    )
