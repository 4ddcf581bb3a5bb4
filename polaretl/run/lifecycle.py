"""The run lifecycle, whatever executes it: begin, slices, finish.

    begin   the pipeline's run lock; stale runs failed; the run row `running`
    start   the stages prepared (target created or checked, referenced keys read); a
            fresh start when due (checkpoints forgotten, a replace target emptied); the
            source whose slices the run reads
    slices  `polaretl.run.slice.execute_slice` for each, every batch committed in one
            transaction (`polaretl.run.batch`)
    finish  totals from the slices; the run row `succeeded` or `failed`; alert rules

The local executor (`polaretl.run.local`), the Celery executor (`polaretl.run.dispatch`
begins and starts a run, `polaretl.run.tasks` runs its slices and finishes it) and
replay (`polaretl.run.replay`) all go through it; only the dispatch differs. A `Job`
says what kind of run it is: a run of the pipeline's source, or a replay of its
quarantined records (`polaretl.run.replay.Replay`).

The run lock is the run row (a unique partial index allows one ``running`` run per
pipeline) and the pipeline's session advisory lock, which serialises starters and which
a run executed in one process holds for its whole life (`polaretl.record.runs`).
"""

from __future__ import annotations

import logging
import traceback as tb
from dataclasses import dataclass
from typing import Any

import psycopg

from polaretl.alerts.evaluate import evaluate_run
from polaretl.core import Connection, LoadContext
from polaretl.definition import Definition
from polaretl.errors import PolaretlError, RunFailedError
from polaretl.extract.base import Extractor
from polaretl.record import checkpoints, run_keys, runs, slices
from polaretl.record.runs import RunStatus
from polaretl.record.slices import SliceStatus
from polaretl.redact import redact_text
from polaretl.run.batch import Ledger, SourceLedger
from polaretl.settings import current

log = logging.getLogger("polaretl.run")


@dataclass(frozen=True)
class Started:
    run_id: int
    resuming: bool  # the pipeline's last run did not succeed: its checkpoints stand


class Job:
    """A run of the pipeline's source: recorded under the pipeline's name, resumed after
    the last committed batch of each slice, judged by the pipeline's alert rules.

    Args:
        executor: ``local`` or ``celery`` (the run row's ``executor``).
        full_refresh: ignore the checkpoints and read every source from the start.
    """

    label = "Run"
    alerts = True

    def __init__(self, pipeline: Definition, *, executor: str, full_refresh: bool = False):
        self.pipeline = pipeline
        self.executor = executor
        self.full_refresh = full_refresh

    @property
    def name(self) -> str:
        """The name the run is recorded under in ``polaretl.runs``."""
        return self.pipeline.name

    def begin(self, control: Connection) -> Started:
        """Fail stale runs and insert this one as ``running``; the caller holds the
        pipeline's advisory lock.

        Raises:
            RunLockedError: a live run of the pipeline exists.
        """
        runs.fail_stale(control, self.name, stale_after=current().stale_after)
        resuming = not self.full_refresh and runs.last_failed(control, self.name) is not None
        run_id = runs.start(
            control, self.name, executor=self.executor, full_refresh=self.full_refresh
        )
        return Started(run_id, resuming)

    def start(self, data: Connection, ctx: LoadContext, *, resuming: bool) -> Extractor:
        """Once per run, after `prepare` and before the first slice: a fresh start when
        due (a full refresh, or a replace run that does not resume forgets the
        checkpoints and lets the loader empty its target, in one transaction). Returns
        the source the run's slices read."""
        if self.full_refresh or (not resuming and self.pipeline.replaces()):
            with data.transaction():
                checkpoints.forget(data, self.pipeline.name)
                self.pipeline.loader.start_fresh(data, ctx)
        return self.pipeline.extractor

    def ledger(self) -> Ledger:
        """What the run keeps of each batch besides its rows."""
        return SourceLedger(self.pipeline)

    def metrics(self) -> dict[str, Any]:
        """Metrics of the run besides its slices' (recorded when it ends)."""
        return {}


def load_context(pipeline: Definition, run_id: int, url: str | None) -> LoadContext:
    """The run's context for its stages in this process: the pipeline's policies, and the
    run's key register for ``on_duplicate="quarantine"``."""
    return LoadContext(
        run_id=run_id,
        pipeline=pipeline.name,
        nullable=pipeline.nullable,
        url=url,
        on_duplicate=pipeline.on_duplicate,
        claim_keys=run_keys.claim,
    )


def prepare(data: Connection, pipeline: Definition, ctx: LoadContext) -> None:
    """Once per process and run: create/check the target, let the validator load what it
    needs, forget the keys finished runs claimed. Idempotent, so every Celery slice task
    calls it too."""
    pipeline.loader.prepare(data, pipeline.output_schema(), ctx)
    pipeline.validator.begin_run(data, ctx)
    run_keys.forget_finished(data)


def conclude(conn: Connection, job: Job, run_id: int, *, elapsed: float | None = None) -> RunStatus:
    """Finish the run from its slices: ``failed`` when one of them did not succeed (with
    their errors), else ``succeeded``; timings and metrics summed over the slices, the
    total being `elapsed` seconds (else the time since the run row was written)."""
    outcomes = slices.outcomes(conn, run_id)
    failed = [(s, e) for s, status, e in outcomes if status != SliceStatus.SUCCEEDED]
    timings, metrics = slices.totals(conn, run_id)
    total = runs.elapsed(conn, run_id) if elapsed is None else elapsed
    if total is not None:
        timings["total"] = total
    error = None
    if failed:
        shown = "; ".join(f"slice {s}: {e or 'did not finish'}" for s, e in failed[:5])
        error = f"{len(failed)} of {len(outcomes)} slices failed — {shown}"
    status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    finish(
        conn,
        job,
        run_id,
        status=status,
        timings=timings,
        metrics={**job.metrics(), **metrics},
        error=error,
    )
    return status


def finish(
    conn: Connection,
    job: Job,
    run_id: int,
    *,
    status: RunStatus,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> None:
    """Record the run's outcome; then, for a job judged by them, the pipeline's alert
    rules. A rule that fails is logged and never changes the run's outcome."""
    runs.finish(
        conn,
        run_id,
        status=status,
        timings=timings,
        metrics=metrics,
        error=error,
        traceback=traceback,
    )
    if job.alerts:
        after_run(conn, job.pipeline, run_id)


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


def fail(
    conn: Connection,
    job: Job,
    run_id: int,
    exc: BaseException,
    *,
    timings: dict[str, float],
    metrics: dict[str, Any] | None = None,
) -> RunFailedError:
    """Record the run as failed (secrets redacted) and return the error to raise from
    `exc`.

    Ctrl-C and SystemExit are recorded, then re-raised as they are. If the record itself
    cannot be written, the next run marks this one failed as stale.
    """
    message = redact_text(describe(exc))
    trace = redact_text("".join(tb.format_exception(exc, limit=-8)))
    try:
        finish(
            conn,
            job,
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
        f"{job.label} {run_id} of {job.pipeline.name} failed: {message}",
        run_id=run_id,
        pipeline=job.pipeline.name,
    )
