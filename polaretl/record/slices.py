"""Slices of runs in ``polaretl.slices``: one row per slice of a run — its attempts,
outcome, counts and timings. A run's totals are the sum of its slices."""

from __future__ import annotations

import enum
import json
import os
import socket
from collections import defaultdict
from typing import Any

from polaretl.core import Connection


class SliceStatus(enum.StrEnum):
    """A slice's ``status`` (stored as this text)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def add(conn: Connection, run_id: int, slices: list[str]) -> None:
    """Record the run's slices as ``pending`` (those recorded already are left alone)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO polaretl.slices (run_id, slice) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(run_id, s) for s in slices],
        )


def hold(conn: Connection, pipeline: str, slice: str) -> None:
    """Wait for and take the session lock of one slice of `pipeline`: one copy of a slice
    task runs at a time (the lock goes with the session, so a dead worker frees it)."""
    conn.execute(
        "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
        (f"polaretl:slice:{pipeline}:{slice}",),
    )


def succeeded(conn: Connection, run_id: int, slice: str) -> bool:
    got = conn.execute(
        "SELECT 1 FROM polaretl.slices WHERE run_id = %s AND slice = %s AND status = 'succeeded'",
        (run_id, slice),
    ).fetchone()
    return got is not None


def attempt(conn: Connection, run_id: int, slice: str) -> int:
    """Record that this process starts (or starts again) the slice; return how many
    times it has been started."""
    got = conn.execute(
        "INSERT INTO polaretl.slices AS s (run_id, slice, status, attempts, started_at, "
        "heartbeat_at, worker) VALUES (%s, %s, 'running', 1, now(), now(), %s) "
        "ON CONFLICT (run_id, slice) DO UPDATE SET attempts = s.attempts + 1, "
        "status = CASE WHEN s.status = 'succeeded' THEN s.status ELSE 'running' END, "
        "started_at = now(), heartbeat_at = now(), worker = excluded.worker "
        "RETURNING attempts",
        (run_id, slice, f"{socket.gethostname()}:{os.getpid()}"),
    ).fetchone()
    return int(str(got[0])) if got else 1


def end(
    conn: Connection,
    run_id: int,
    slice: str,
    *,
    status: SliceStatus,
    counts: dict[str, int],
    timings: dict[str, float],
    metrics: dict[str, int],
    error: str | None,
) -> None:
    """Record how an attempt at the slice ended; `counts` (processed, valid, rejected,
    loaded) add to what earlier attempts committed."""
    conn.execute(
        "UPDATE polaretl.slices SET status = %s, finished_at = now(), error = %s, "
        "processed = processed + %s, valid = valid + %s, rejected = rejected + %s, "
        "loaded = loaded + %s, timings = %s, metrics = %s WHERE run_id = %s AND slice = %s",
        (
            str(status),
            error,
            counts.get("processed", 0),
            counts.get("valid", 0),
            counts.get("rejected", 0),
            counts.get("loaded", 0),
            json.dumps({k: round(v, 4) for k, v in timings.items()}),
            json.dumps(metrics),
            run_id,
            slice,
        ),
    )


def outcomes(conn: Connection, run_id: int) -> list[tuple[str, SliceStatus, str | None]]:
    """(slice, status, error) of every slice of the run, by slice."""
    rows = conn.execute(
        "SELECT slice, status, error FROM polaretl.slices WHERE run_id = %s ORDER BY slice",
        (run_id,),
    ).fetchall()
    return [(str(s), SliceStatus(status), error) for s, status, error in rows]


def totals(conn: Connection, run_id: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds per stage and metrics of a run, summed over its slices."""
    rows = conn.execute(
        "SELECT timings, metrics, status FROM polaretl.slices WHERE run_id = %s", (run_id,)
    ).fetchall()
    timings: dict[str, float] = defaultdict(float)
    metrics: dict[str, Any] = defaultdict(int)
    for slice_timings, slice_metrics, _ in rows:
        for k, v in (slice_timings or {}).items():
            timings[k] += float(v)
        for k, v in (slice_metrics or {}).items():
            metrics[k] += int(v)
    metrics["slices"] = len(rows)
    metrics["slices_failed"] = sum(1 for r in rows if r[2] == SliceStatus.FAILED)
    return dict(timings), dict(metrics)
