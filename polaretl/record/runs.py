"""Runs in ``polaretl.runs``: one row per run — started, advanced per batch, finished —
and `RunResult`, the one type a run's row is read as.

The run lock is the row itself: a unique partial index allows one ``running`` run per
pipeline, across processes and machines. A session advisory lock (`try_lock`) serialises
starters and, for a run executed in one process (the local executor, a replay), is held
for the whole run, which is how the next starter knows such a run is alive. A
``running`` run is stale — its process died — when it is one of those and nobody holds
the lock, or when it is a Celery run whose heartbeat is older than ``stale_after``.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import json
import os
import socket
from dataclasses import dataclass, field, fields
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from polaretl.core import Connection
from polaretl.errors import ConfigError, RecordError, RunLockedError
from polaretl.record.rows import frame, where


class RunStatus(enum.StrEnum):
    """A run's ``status`` (stored as this text)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # refused by the run lock (a scheduled start), with the reason


# A run whose process died leaves status 'running'; the next run of the pipeline, which
# holds the pipeline's lock, knows no live process can own such a run and fails it.
STALE_ERROR = (
    "The process running this pipeline stopped before the run finished (killed, crashed "
    "or lost its database connection). The next run resumed after the last committed batch."
)


@dataclass(frozen=True)
class RunResult:
    """One run's outcome.

    Attributes:
        run_id: the run's id (``polaretl show RUN_ID``).
        status: ``running``, ``succeeded``, ``failed`` or ``skipped``.
        processed: records received from the source (unparseable ones included).
        valid: records that passed the contract.
        rejected: records quarantined (``pe.quarantine(pipeline)``).
        loaded: valid records the target accepted (after in-batch de-duplication).
        timings: seconds per stage: extract, validate, transform, load, record, total.
    """

    run_id: int
    pipeline: str
    status: RunStatus
    processed: int
    valid: int
    rejected: int
    loaded: int
    batches: int
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def seconds(self) -> float:
        return float(self.timings.get("total", 0.0))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(RunResult)}
        out["status"] = str(self.status)
        for key in ("started_at", "finished_at"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out

    def summary(self) -> str:
        """One line for humans.

        Example:
            >>> RunResult(7, "orders", "succeeded", 10, 9, 1, 9, 1, timings={"total": 2}).summary()
            'run 7 orders succeeded: processed 10, valid 9, rejected 1, loaded 9 in 2.00 s'
        """
        text = (
            f"run {self.run_id} {self.pipeline} {self.status}: processed {self.processed}, "
            f"valid {self.valid}, rejected {self.rejected}, loaded {self.loaded} "
            f"in {self.seconds:.2f} s"
        )
        return text + (f" — {self.error}" if self.error else "")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunResult:
        return cls(
            run_id=int(row["run_id"]),
            pipeline=row["pipeline"],
            status=RunStatus(row["status"]),
            processed=int(row["processed"]),
            valid=int(row["valid"]),
            rejected=int(row["rejected"]),
            loaded=int(row["loaded"]),
            batches=int(row["batches"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            error=row["error"],
            timings=dict(row["timings"] or {}),
            metrics=dict(row["metrics"] or {}),
        )

    @classmethod
    def fetch(cls, conn: Connection, run_id: int) -> RunResult:
        """Run `run_id` as recorded now; `RecordError` if there is none."""
        found = row(conn, run_id)
        if found is None:
            raise RecordError(f"There is no run {run_id} in polaretl.runs of this database.")
        return cls.from_row(found)


# -- the run lock -------------------------------------------------------------------


def _lock_key(pipeline: str) -> str:
    return f"polaretl:run:{pipeline}"


def try_lock(conn: Connection, pipeline: str) -> bool:
    """Take the pipeline's session advisory lock if nobody holds it."""
    got = conn.execute(
        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (_lock_key(pipeline),)
    ).fetchone()
    return bool(got and got[0])


def unlock(conn: Connection, pipeline: str) -> None:
    try:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (_lock_key(pipeline),))
    except psycopg.Error:
        pass  # the lock goes with the session anyway


def refused(pipeline: str) -> RunLockedError:
    return RunLockedError(
        f"Pipeline {pipeline!r} is already running (another run holds its lock). Wait for it "
        f"to finish, or see `polaretl runs {pipeline}`.",
        pipeline=pipeline,
    )


# -- a run's life ---------------------------------------------------------------------


def fail_stale(conn: Connection, name: str, *, stale_after: float) -> None:
    """Fail the ``running`` runs recorded as `name` that no live process can own; the
    caller holds the pipeline's advisory lock. A run of one process (local, replay) holds
    that lock while it lives, so its row is dead; a Celery run is dead once its heartbeat
    is older than `stale_after` seconds."""
    conn.execute(
        "UPDATE polaretl.runs SET status = 'failed', finished_at = now(), error = %s "
        "WHERE pipeline = %s AND status = 'running' AND (executor <> 'celery' "
        "OR heartbeat_at < now() - make_interval(secs => %s))",
        (STALE_ERROR, name, stale_after),
    )


def live_on_workers(conn: Connection, pipeline: str, *, stale_after: float) -> bool:
    """Whether a Celery run of `pipeline` is live: it holds the pipeline through its
    ``running`` row (with a recent heartbeat), not through the advisory lock."""
    got = conn.execute(
        "SELECT 1 FROM polaretl.runs WHERE pipeline = %s AND status = 'running' "
        "AND executor = 'celery' AND heartbeat_at >= now() - make_interval(secs => %s)",
        (pipeline, stale_after),
    ).fetchone()
    return got is not None


def start(conn: Connection, name: str, *, executor: str, full_refresh: bool) -> int:
    """Insert a ``running`` run and return its id (autocommit).

    Raises:
        RunLockedError: a run recorded as `name` is running (the run lock).
    """
    try:
        got = conn.execute(
            "INSERT INTO polaretl.runs (pipeline, status, executor, full_refresh, host, pid) "
            "VALUES (%s, 'running', %s, %s, %s, %s) RETURNING run_id",
            (name, executor, full_refresh, socket.gethostname(), os.getpid()),
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise refused(name) from exc
    assert got is not None
    return int(got[0])


def skipped(conn: Connection, pipeline: str, *, executor: str, error: str) -> int:
    """Record a start refused by the run lock (a scheduled fire) as a ``skipped`` run."""
    got = conn.execute(
        "INSERT INTO polaretl.runs (pipeline, status, executor, finished_at, error) "
        "VALUES (%s, 'skipped', %s, now(), %s) RETURNING run_id",
        (pipeline, executor, error),
    ).fetchone()
    assert got is not None
    return int(got[0])


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


def add_metrics(conn: Connection, run_id: int, **counts: int) -> None:
    """Add `counts` to the run's ``metrics`` (jsonb), inside the batch's transaction."""
    pairs = sql.SQL(", ").join(
        sql.SQL("{name}, coalesce((metrics->>{name})::bigint, 0) + {n}").format(
            name=sql.Literal(name), n=sql.Literal(n)
        )
        for name, n in counts.items()
    )
    conn.execute(
        sql.SQL(
            "UPDATE polaretl.runs SET metrics = metrics || jsonb_build_object({}) WHERE run_id = %s"
        ).format(pairs),
        (run_id,),
    )


def heartbeat(conn: Connection, run_id: int) -> None:
    conn.execute("UPDATE polaretl.runs SET heartbeat_at = now() WHERE run_id = %s", (run_id,))


def finish(
    conn: Connection,
    run_id: int,
    *,
    status: RunStatus,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    """Record the run's outcome; `metrics` are merged into those its batches added."""
    conn.execute(
        "UPDATE polaretl.runs SET status = %s, finished_at = now(), timings = %s, "
        "metrics = metrics || %s, error = %s, traceback = %s WHERE run_id = %s",
        (
            str(status),
            json.dumps({k: round(v, 4) for k, v in timings.items()}),
            json.dumps(metrics or {}, default=str),
            error,
            traceback,
            run_id,
        ),
    )


# -- reading ------------------------------------------------------------------------


def row(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """The run's whole row (every column), or None."""
    cur = conn.execute("SELECT * FROM polaretl.runs WHERE run_id = %s", (run_id,))
    got = cur.fetchone()
    if got is None:
        return None
    names = [d.name for d in cur.description or []]
    return dict(zip(names, got, strict=True))


def get(conn: Connection, run_id: int) -> RunResult | None:
    found = row(conn, run_id)
    return RunResult.from_row(found) if found is not None else None


def elapsed(conn: Connection, run_id: int) -> float | None:
    """Seconds since the run started, by the database's clock."""
    got = conn.execute(
        "SELECT extract(epoch FROM now() - started_at) FROM polaretl.runs WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    return float(got[0]) if got and got[0] is not None else None


def last_failed(conn: Connection, pipeline: str) -> int | None:
    """The latest run if it did not succeed (so the next run resumes it), else None."""
    got = conn.execute(
        "SELECT run_id, status FROM polaretl.runs WHERE pipeline = %s AND status <> 'skipped' "
        "ORDER BY run_id DESC LIMIT 1",
        (pipeline,),
    ).fetchone()
    if got is None or got[1] == RunStatus.SUCCEEDED:
        return None
    return int(got[0])


def latest_id(conn: Connection) -> int:
    """The id of the newest run of any pipeline (0: none yet)."""
    got = conn.execute("SELECT coalesce(max(run_id), 0) FROM polaretl.runs").fetchone()
    return int(got[0]) if got else 0


def started_by(conn: Connection, pipeline: str, *, host: str, pid: int, after: int) -> int | None:
    """The newest run of `pipeline` after run `after` started by process `pid` on `host`."""
    got = conn.execute(
        "SELECT run_id FROM polaretl.runs WHERE pipeline = %s AND pid = %s AND host = %s "
        "AND run_id > %s ORDER BY run_id DESC LIMIT 1",
        (pipeline, pid, host, after),
    ).fetchone()
    return int(got[0]) if got else None


def last_of_each(conn: Connection) -> dict[str, tuple[int, RunStatus, dt.datetime | None]]:
    """Each pipeline's newest run: (run_id, status, finished_at)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (pipeline) pipeline, run_id, status, finished_at "
        "FROM polaretl.runs ORDER BY pipeline, run_id DESC"
    ).fetchall()
    return {str(r[0]): (int(r[1]), RunStatus(r[2]), r[3]) for r in rows}


#: What `median_before` may take the median of: trusted column expressions.
_MEASURES = {"processed": "processed", "seconds": "(timings->>'total')::float8"}


def median_before(
    conn: Connection, pipeline: str, run_id: int, measure: str, runs: int
) -> tuple[int, float | None]:
    """(count, median) of `measure` (``processed`` or ``seconds``) over the last `runs`
    succeeded runs of `pipeline` before `run_id`."""
    expression = _MEASURES.get(measure)
    if expression is None:
        raise ConfigError(f"median_before: {measure!r} is not one of {', '.join(_MEASURES)}.")
    got = conn.execute(
        "SELECT count(v), percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM ("
        f"  SELECT {expression} AS v FROM polaretl.runs"
        "   WHERE pipeline = %s AND status = 'succeeded' AND run_id < %s"
        f"  AND {expression} IS NOT NULL"
        "   ORDER BY run_id DESC LIMIT %s) history",
        (pipeline, run_id, runs),
    ).fetchone()
    assert got is not None
    return int(got[0]), (float(got[1]) if got[1] is not None else None)


_HISTORY = (
    "run_id, pipeline, status, executor, started_at, finished_at, processed, valid, "
    "rejected, loaded, batches, error, timings::text AS timings"
)


def history(conn: Connection, pipeline: str | None = None, *, limit: int = 100) -> pl.DataFrame:
    """Run history, newest first (``timings`` as JSON text)."""
    clause, params = where(pipeline=pipeline)
    statement = sql.SQL("SELECT {} FROM polaretl.runs{} ORDER BY run_id DESC LIMIT %s").format(
        sql.SQL(_HISTORY), clause
    )
    return frame(conn, statement, [*params, limit])


# -- what the ops app shows -----------------------------------------------------------

_LISTED = sql.SQL(
    "run_id, pipeline, status, executor, started_at, finished_at, processed, valid, "
    "rejected, loaded, batches, (timings->>'total')::float8 AS seconds, "
    "rejected::float8 / NULLIF(processed, 0) AS rejection_rate, error"
)


def names(conn: Connection) -> list[str]:
    """Pipelines (and replays) that have runs recorded, by name."""
    return [
        str(r[0]) for r in conn.execute("SELECT DISTINCT pipeline FROM polaretl.runs ORDER BY 1")
    ]


def overview(conn: Connection, *, since: dt.datetime | None = None) -> pl.DataFrame:
    """One row per pipeline: last run and status, success rate, rows and rejection rate
    (counting runs started from `since` on; the last run is always the last one)."""
    clause, params = where(since=since)
    statement = sql.SQL(
        "WITH stats AS ("
        " SELECT pipeline, count(*) AS runs,"
        "  count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
        "  count(*) FILTER (WHERE status = 'failed') AS failed,"
        "  count(*) FILTER (WHERE status = 'succeeded')::float8"
        "   / NULLIF(count(*) FILTER (WHERE status IN ('succeeded', 'failed')), 0)"
        "   AS success_rate,"
        "  sum(processed)::bigint AS processed, sum(loaded)::bigint AS loaded,"
        "  sum(rejected)::bigint AS rejected,"
        "  sum(rejected)::float8 / NULLIF(sum(processed), 0) AS rejection_rate"
        " FROM polaretl.runs {where} GROUP BY pipeline),"
        " last AS (SELECT DISTINCT ON (pipeline) pipeline, run_id AS last_run,"
        "  status AS last_status, started_at AS last_started, finished_at AS last_finished,"
        "  (timings->>'total')::float8 AS last_seconds, error AS last_error"
        " FROM polaretl.runs ORDER BY pipeline, run_id DESC)"
        " SELECT last.pipeline, last_status, last_run, last_started, last_finished,"
        "  last_seconds, coalesce(runs, 0) AS runs, coalesce(succeeded, 0) AS succeeded,"
        "  coalesce(failed, 0) AS failed, success_rate, coalesce(processed, 0) AS processed,"
        "  coalesce(loaded, 0) AS loaded, coalesce(rejected, 0) AS rejected, rejection_rate,"
        "  last_error"
        " FROM last LEFT JOIN stats USING (pipeline) ORDER BY last.pipeline"
    ).format(where=clause)
    rows = frame(conn, statement, params, empty_as_text=True)
    if rows.height == 0:  # no run yet: counts are numbers (an empty result is all text)
        rows = rows.cast(_OVERVIEW_TYPES)  # type: ignore[arg-type]
    return rows


_OVERVIEW_TYPES: dict[str, pl.DataType] = {
    **dict.fromkeys(("last_run", "runs", "succeeded", "failed"), pl.Int64()),
    **dict.fromkeys(("processed", "loaded", "rejected"), pl.Int64()),
    **dict.fromkeys(("last_seconds", "success_rate", "rejection_rate"), pl.Float64()),
    **dict.fromkeys(("last_started", "last_finished"), pl.Datetime("us", "UTC")),
}


def listing(
    conn: Connection,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """Run history, newest first, with total seconds and rejection rate."""
    clause, params = where(pipeline=pipeline, status=status, since=since)
    statement = sql.SQL("SELECT {} FROM polaretl.runs {} ORDER BY run_id DESC LIMIT %s").format(
        _LISTED, clause
    )
    return frame(conn, statement, [*params, limit], empty_as_text=True)


def series(
    conn: Connection, *, pipeline: str | None = None, since: dt.datetime | None = None
) -> pl.DataFrame:
    """Finished runs oldest first, for charts: rows loaded and rejection rate over time."""
    clause, params = where(pipeline=pipeline, since=since)
    statement = sql.SQL(
        "SELECT run_id, pipeline, status, coalesce(finished_at, started_at) AS at, processed,"
        " loaded, rejected, rejected::float8 / NULLIF(processed, 0) AS rejection_rate,"
        " (timings->>'total')::float8 AS seconds"
        " FROM polaretl.runs {} AND status <> 'running' ORDER BY run_id"
    ).format(clause)
    return frame(conn, statement, params, empty_as_text=True)
