"""The end of a run, whatever executed it: record the outcome, then evaluate alerts.

Both executors finish a run here (the Celery executor from its finalize task), so what
happens after a run — the run row's final status, alert rules — happens once, in one
place.
"""

from __future__ import annotations

import logging
import traceback as tb
from typing import Any

import psycopg

from polaretl.alerts.evaluate import evaluate_run
from polaretl.core import Connection
from polaretl.definition import Definition
from polaretl.errors import PolaretlError, RunFailedError
from polaretl.record import runs
from polaretl.record.runs import RunStatus
from polaretl.redact import redact_text

log = logging.getLogger("polaretl.run")


def finish(
    conn: Connection,
    pipeline: Definition,
    run_id: int,
    *,
    status: str,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    """Record the run's outcome; then run the pipeline's after-run hooks (alerts).

    A hook that fails is logged and never changes the run's outcome.
    """
    runs.finish(
        conn,
        run_id,
        status=RunStatus(status),
        timings=timings,
        metrics=metrics,
        error=error,
        traceback=traceback,
    )
    after_run(conn, pipeline, run_id)


def after_run(conn: Connection, pipeline: Definition, run_id: int) -> None:
    """Hooks evaluated once a run is recorded: the pipeline's alert rules.

    Never raises (but for KeyboardInterrupt and SystemExit, so Ctrl-C still stops the
    process): the run's outcome is already recorded, and an alert that cannot be
    evaluated or sent is logged (and its channel errors recorded in ``polaretl.alerts``),
    not turned into a failed run.
    """
    if not getattr(pipeline, "alerts", None):
        return
    try:
        fired = evaluate_run(conn, pipeline, run_id)
    except Exception:  # noqa: BLE001 - see the docstring: alerts never fail a run
        log.exception("alerts of %s could not be evaluated for run %s", pipeline.name, run_id)
        return
    for alert in fired:
        log.info("alert %s fired for run %s: %s", alert.rule, run_id, alert.channels)


def describe(exc: BaseException) -> str:
    """An exception as one line for run records."""
    if isinstance(exc, PolaretlError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def record_failure(
    conn: Connection,
    pipeline: Definition,
    run_id: int,
    exc: BaseException,
    *,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
    label: str = "Run",
    hooks: bool = True,
) -> RunFailedError:
    """Record a run as failed (secrets redacted) and return the error to raise from `exc`.

    Ctrl-C and SystemExit are recorded, then re-raised as they are. With `hooks` false the
    after-run hooks (alerts) are not evaluated. If the record itself cannot be written,
    the next run marks this one failed as stale.
    """
    message = redact_text(describe(exc))
    trace = redact_text("".join(tb.format_exception(exc, limit=-8)))
    try:
        if hooks:
            finish(
                conn,
                pipeline,
                run_id,
                status="failed",
                timings=timings,
                metrics=metrics,
                error=message,
                traceback=trace,
            )
        else:
            runs.finish(
                conn,
                run_id,
                status=RunStatus.FAILED,
                timings=timings,
                metrics=metrics,
                error=message,
                traceback=trace,
            )
    except psycopg.Error:
        pass
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc
    return RunFailedError(
        f"{label} {run_id} of {pipeline.name} failed: {message}",
        run_id=run_id,
        pipeline=pipeline.name,
    )
