"""Run records in ``polaretl.runs``: started, advanced per batch, finished."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from polaretl.core import Connection

# A run whose process died leaves status 'running'; the next run of the pipeline, which
# holds the pipeline's lock, knows no live process can own such a run and fails it.
STALE_ERROR = (
    "The process running this pipeline stopped before the run finished (killed, crashed "
    "or lost its database connection). The next run resumed after the last committed batch."
)


def start_run(conn: Connection, pipeline: str, *, executor: str, full_refresh: bool) -> int:
    """Insert a ``running`` run and return its id (autocommit)."""
    row = conn.execute(
        "INSERT INTO polaretl.runs (pipeline, status, executor, full_refresh, host, pid) "
        "VALUES (%s, 'running', %s, %s, %s, %s) RETURNING run_id",
        (pipeline, executor, full_refresh, socket.gethostname(), os.getpid()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_batch(
    conn: Connection, run_id: int, *, processed: int, valid: int, rejected: int, loaded: int
) -> None:
    """Add one batch's counts; runs inside the batch's transaction, so the counts always
    match what is committed."""
    conn.execute(
        "UPDATE polaretl.runs SET processed = processed + %s, valid = valid + %s, "
        "rejected = rejected + %s, loaded = loaded + %s, batches = batches + 1, "
        "heartbeat_at = now() WHERE run_id = %s",
        (processed, valid, rejected, loaded, run_id),
    )


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    conn.execute(
        "UPDATE polaretl.runs SET status = %s, finished_at = now(), timings = %s, "
        "metrics = metrics || %s, error = %s, traceback = %s WHERE run_id = %s",
        (
            status,
            json.dumps({k: round(v, 4) for k, v in timings.items()}),
            json.dumps(metrics or {}, default=str),
            error,
            traceback,
            run_id,
        ),
    )


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM polaretl.runs WHERE run_id = %s", (run_id,))
    row = cur.fetchone()
    if row is None:
        return None
    names = [d.name for d in cur.description or []]
    return dict(zip(names, row, strict=True))


def last_failed_run(conn: Connection, pipeline: str) -> int | None:
    """The latest run if it did not succeed (so the next run resumes it), else None."""
    row = conn.execute(
        "SELECT run_id, status FROM polaretl.runs WHERE pipeline = %s AND status <> 'skipped' "
        "ORDER BY run_id DESC LIMIT 1",
        (pipeline,),
    ).fetchone()
    if row is None or row[1] == "succeeded":
        return None
    return int(row[0])
