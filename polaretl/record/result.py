"""`RunResult`: what one run did, as recorded in ``polaretl.runs``."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from polaretl.core import Connection
from polaretl.errors import RecordError
from polaretl.record import runs


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
    status: str
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
        return self.status == "succeeded"

    @property
    def seconds(self) -> float:
        return float(self.timings.get("total", 0.0))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
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
            status=row["status"],
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
        row = runs.get_run(conn, run_id)
        if row is None:
            raise RecordError(f"There is no run {run_id} in polaretl.runs of this database.")
        return cls.from_row(row)
