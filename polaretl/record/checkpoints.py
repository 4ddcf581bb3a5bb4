"""Checkpoints in ``polaretl.checkpoints``: one row per committed batch of a slice.

A batch's checkpoint is written in the batch's own transaction with the next sequence
number of its slice. The primary key (pipeline, slice, seq) makes that a
compare-and-set: if another process (a retried or redelivered task) committed a batch
of the slice since this one read its position, the insert conflicts, the whole batch
rolls back, and no row is loaded twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

from polaretl.core import Connection
from polaretl.errors import CheckpointConflictError


@dataclass(frozen=True)
class Position:
    """The last committed batch of a slice (seq 0 and no state: nothing committed)."""

    seq: int
    state: dict[str, Any] | None
    run_id: int | None


def latest(conn: Connection, pipeline: str, slice: str) -> Position:
    row = conn.execute(
        "SELECT seq, position, run_id FROM polaretl.checkpoints "
        "WHERE pipeline = %s AND slice = %s ORDER BY seq DESC LIMIT 1",
        (pipeline, slice),
    ).fetchone()
    if row is None:
        return Position(0, None, None)
    return Position(int(row[0]), row[1], int(row[2]))


def latest_all(conn: Connection, pipeline: str) -> dict[str, Position]:
    rows = conn.execute(
        "SELECT DISTINCT ON (slice) slice, seq, position, run_id FROM polaretl.checkpoints "
        "WHERE pipeline = %s ORDER BY slice, seq DESC",
        (pipeline,),
    ).fetchall()
    return {str(r[0]): Position(int(r[1]), r[2], int(r[3])) for r in rows}


def commit(
    conn: Connection,
    pipeline: str,
    slice: str,
    *,
    seq: int,
    run_id: int,
    state: dict[str, Any],
    received: int,
    loaded: int,
    rejected: int,
) -> None:
    """Write checkpoint `seq` of the slice inside the open batch transaction."""
    try:
        with conn.transaction():  # a savepoint: the conflict is reported, not swallowed
            conn.execute(
                "INSERT INTO polaretl.checkpoints "
                "(pipeline, slice, seq, run_id, position, received, loaded, rejected) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    pipeline,
                    slice,
                    seq,
                    run_id,
                    json.dumps(state, default=str),
                    received,
                    loaded,
                    rejected,
                ),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise CheckpointConflictError(
            f"Batch {seq} of slice {slice!r} of pipeline {pipeline!r} was already committed "
            "by another process (a duplicated or redelivered task); this copy rolled its "
            "batch back and stops.",
            pipeline=pipeline,
            slice=slice,
            seq=seq,
        ) from exc


def forget(conn: Connection, pipeline: str) -> None:
    """Drop every checkpoint of the pipeline (a full refresh starts over)."""
    conn.execute("DELETE FROM polaretl.checkpoints WHERE pipeline = %s", (pipeline,))
