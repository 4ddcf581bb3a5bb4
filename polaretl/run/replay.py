"""Replay: a run whose source is the pipeline's quarantined records, corrected.

    the pipeline's advisory lock, no live Celery run of it -> run row NAME:replay
        -> prepare the stages (target, referenced keys) -> store the corrections
        -> the pending records, as they stand, as a source (`QuarantineExtractor`)
        -> slices and batches as any run: contract -> transforms -> loader, each batch
           one transaction that also marks its loaded records `replayed`
           (replay_run_id) and gives those still invalid their new errors (`pending`)
        -> run row succeeded | failed

It goes through the run lifecycle (`polaretl.run.lifecycle`) and the one batch commit
(`polaretl.run.batch`), so it has what a run has: batches retried after a dropped
connection, the next chunk prepared while one commits, ``on_duplicate``, references,
and the fault guarantees (a batch is committed whole or not at all; replaying again
after a crash picks up the records still pending, and loads none twice).

Why a run of its own, named ``NAME:replay`` (``:`` cannot appear in a pipeline name, so it
never collides): it is recorded in ``polaretl.runs`` like any run (counts, timings,
error, ``polaretl show``), while the pipeline's own history stays about its source:
alert rules that compare a run with the previous ones (``VolumeDrop``, ``FailureRate``)
are not fed a run of three records (they are not evaluated for replays), and a failed
replay does not make the next scheduled run think it must resume. ``polaretl runs
NAME:replay`` lists replays.

It holds the pipeline's run lock: the pipeline's advisory lock for its whole life (a
local run or a Celery submit of the pipeline is refused meanwhile) and it refuses to
start while a Celery run of the pipeline is live; so a replay never interleaves with a
run's batches.

Loaded rows carry ``_polaretl_source = 'quarantine:<id>'``: lineage leads from the row
back to its quarantine record, and from there to the run and position it came from.
Replay is idempotent: replayed records are no longer pending; a record still invalid
gets the same errors again (not rewritten when unchanged).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from polaretl.core import SOURCE_COLUMN, Connection, LoadContext, LoadResult
from polaretl.definition import Definition
from polaretl.extract.base import Extractor
from polaretl.quality.corrections import replay_input
from polaretl.quality.extractor import QuarantineExtractor
from polaretl.record import quarantine, runs
from polaretl.record.checkpoints import Position
from polaretl.record.quarantine import QUARANTINE_LABEL
from polaretl.record.runs import RunResult
from polaretl.run.batch import Batch, Ledger
from polaretl.run.lifecycle import Job, Started
from polaretl.run.local import run_here
from polaretl.settings import current

SUFFIX = ":replay"


def replay_name(pipeline: str) -> str:
    """The name replay runs are recorded under.

    Example:
        >>> replay_name("orders")
        'orders:replay'
    """
    return pipeline + SUFFIX


def replay(
    pipeline: Definition,
    url: str,
    *,
    run_id: int | None = None,
    ids: list[int] | None = None,
    corrected: pl.DataFrame | None = None,
) -> RunResult:
    """Replay the pipeline's pending records (of run `run_id`, or `ids`), corrected by
    `corrected` (an edited export) when given; return the replay run's result.

    Raises:
        RunLockedError: a run of the pipeline is in progress.
        RunFailedError: the replay failed (recorded, with its error); nothing of the
            failing batch was committed.
    """
    return run_here(Replay(pipeline, url, run_id=run_id, ids=ids, corrected=corrected), url)


class Replay(Job):
    """A run of the pipeline's quarantined records (`replay`)."""

    label = "Replay run"
    alerts = False  # replays are not judged by the pipeline's alert rules

    def __init__(
        self,
        pipeline: Definition,
        url: str,
        *,
        run_id: int | None,
        ids: list[int] | None,
        corrected: pl.DataFrame | None,
    ) -> None:
        super().__init__(pipeline, executor="replay")
        self.url = url
        self.origin_run, self.ids, self.corrected = run_id, ids, corrected
        self.left_alone = {"needs_correction": 0, "skipped": 0}

    @property
    def name(self) -> str:
        return replay_name(self.pipeline.name)

    def begin(self, control: Connection) -> Started:
        # A Celery run holds the pipeline through its `running` row, not the advisory lock
        stale_after = current().stale_after
        if runs.live_on_workers(control, self.pipeline.name, stale_after=stale_after):
            raise runs.refused(self.pipeline.name)
        runs.fail_stale(control, self.name, stale_after=stale_after)
        run_id = runs.start(control, self.name, executor=self.executor, full_refresh=False)
        return Started(run_id, resuming=False)

    def start(self, data: Connection, ctx: LoadContext, *, resuming: bool) -> Extractor:
        todo = replay_input(
            data, self.pipeline.name, run_id=self.origin_run, ids=self.ids, corrected=self.corrected
        )
        self.left_alone = {"needs_correction": todo.needs_correction, "skipped": todo.skipped}
        with data.transaction():
            quarantine.correct(data, todo.corrections)
        null_values = getattr(self.pipeline.extractor, "null_values", ("",))
        return QuarantineExtractor(self.url, todo.ids, null_values=list(null_values))

    def ledger(self) -> Ledger:
        return ReplayLedger()

    def metrics(self) -> dict[str, Any]:
        return {"replayed": 0, "still_pending": 0, **self.left_alone}


class ReplayLedger(Ledger):
    """What a replay keeps of a batch: its records' new status."""

    def position(self, conn: Connection, slice: str) -> Position:
        # the records still pending are where a replay starts: it never resumes
        return Position(0, None, None)

    def record(
        self,
        conn: Connection,
        ctx: LoadContext,
        slice: str,
        seq: int,
        batch: Batch,
        rejected: pl.DataFrame,
        result: LoadResult,
    ) -> dict[str, int]:
        failed = rejected.select(_id(pl.col("source")).alias("id"), "errors")
        valid = batch.split.valid.select(_id(pl.col(SOURCE_COLUMN)).alias("id"))
        loaded = valid.join(failed, on="id", how="anti")["id"].to_list()
        quarantine.mark_replayed(conn, loaded, ctx.run_id)
        quarantine.still_invalid(conn, failed)
        return {"replayed": len(loaded), "still_pending": failed.height}


def _id(label: pl.Expr) -> pl.Expr:
    return label.str.strip_prefix(QUARANTINE_LABEL).cast(pl.Int64)
