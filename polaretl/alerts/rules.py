"""Alert rules: what is worth telling someone about a finished run.

A rule looks at one recorded run (`RunFacts`: its `RunResult` plus what the rule asks of
the pipeline's history) and returns a message when it fires, else None.

- `FailureRate(above=0.05)`: rejected / processed > above (a run that processed nothing
  never fires);
- `VolumeDrop(below=0.5, runs=5)`: a succeeded run processed < below x the median of the
  last `runs` succeeded runs (at least one is needed);
- `Duration(above=600)`: the run took more than `above` seconds;
- `Duration(factor=3.0, runs=5)`: the run took more than factor x the median total
  seconds of the last `runs` succeeded runs;
- `SchemaChange()`: the run recorded a new version of the source's schema (a version
  above 1 in ``polaretl.schema_versions``: the first one is a baseline, not a change);
- `RunFailed()`: the run failed.

Thresholds are strict: a run exactly at the threshold does not fire. Every rule takes
``channels=`` (where to send; default: the pipeline's, see `polaretl.alerts.evaluate`)
and ``cooldown=`` (seconds or a timedelta, default 15 minutes): within the cooldown after
a firing of the same rule for the same pipeline, the rule stays quiet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from polaretl.alerts.channels import Channel
from polaretl.core import Connection
from polaretl.errors import ConfigError
from polaretl.record import runs as run_records
from polaretl.record import schema_versions
from polaretl.record.runs import RunResult, RunStatus

DEFAULT_COOLDOWN = dt.timedelta(minutes=15)
DEFAULT_HISTORY = 5


@dataclass(frozen=True)
class RunFacts(RunResult):
    """A finished run as rules see it: its `RunResult`, and queries over the pipeline's
    history (the connection they use is not part of the run)."""

    conn: Connection | None = field(default=None, repr=False, compare=False, kw_only=True)

    @classmethod
    def load(cls, conn: Connection, run_id: int) -> RunFacts | None:
        """The run as recorded; None if there is no such run."""
        run = run_records.get(conn, run_id)
        if run is None:
            return None
        return cls(**{f.name: getattr(run, f.name) for f in fields(RunResult)}, conn=conn)

    def median_before(self, measure: str, runs: int) -> tuple[int, float | None]:
        """(count, median) of `measure` (``processed`` or ``seconds``) over the last `runs`
        succeeded runs of the pipeline before this one."""
        return run_records.median_before(self._conn(), self.pipeline, self.run_id, measure, runs)

    def schema_changes(self) -> list[dict[str, Any]]:
        """The versions this run recorded of its source's schema, except a first version
        (a source seen for the first time has no previous shape to differ from)."""
        return schema_versions.changes(self._conn(), self.run_id)

    def _conn(self) -> Connection:
        if self.conn is None:
            raise ConfigError("RunFacts without a connection cannot read the run's history.")
        return self.conn


def _cooldown(value: float | dt.timedelta | None) -> dt.timedelta:
    if value is None:
        return DEFAULT_COOLDOWN
    if isinstance(value, dt.timedelta):
        out = value
    elif isinstance(value, int | float):
        out = dt.timedelta(seconds=value)
    else:
        raise ConfigError(f"cooldown must be seconds or a timedelta, not {value!r}.")
    if out < dt.timedelta(0):
        raise ConfigError(f"cooldown must not be negative (got {value!r}).")
    return out


class Rule:
    """Base of the alert rules: subclass it and write `check`.

    Args:
        channels: where a firing goes; None means the pipeline's default channels.
        cooldown: seconds (or a timedelta) during which the same rule does not fire again
            for the same pipeline; 0 turns the cooldown off.
    """

    def __init__(
        self,
        *,
        channels: Sequence[Channel] | None = None,
        cooldown: float | dt.timedelta | None = None,
    ) -> None:
        if channels is not None:
            bad = [c for c in channels if not isinstance(c, Channel)]
            if bad:
                raise ConfigError(
                    f"{type(self).__name__}: channels must be pe.Log, pe.Webhook, pe.Slack, "
                    f"pe.Email or pe.Apprise objects, not {bad[0]!r}."
                )
        self.channels: list[Channel] | None = list(channels) if channels is not None else None
        self.cooldown = _cooldown(cooldown)

    @property
    def name(self) -> str:
        """The rule as recorded in ``polaretl.alerts.rule`` (and the cooldown's key)."""
        return repr(self)

    def _params(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if v is not None)
        return f"{type(self).__name__}({params})"

    def check(self, facts: RunFacts) -> str | None:
        """The alert's message if the rule fires for this run, else None."""
        raise NotImplementedError


def _positive(rule: str, name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, int | float) and value >= 0):
        raise ConfigError(f"{rule}: {name} must be a number >= 0, not {value!r}.")


def _history_size(rule: str, runs: int) -> int:
    if not isinstance(runs, int) or runs < 1:
        raise ConfigError(f"{rule}: runs must be a whole number >= 1, not {runs!r}.")
    return runs


class FailureRate(Rule):
    """Fires when more than `above` of the processed records were rejected.

    Example:
        >>> FailureRate(above=0.05)
        FailureRate(above=0.05)
    """

    def __init__(self, above: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _positive("FailureRate", "above", above)
        self.above = float(above)

    def _params(self) -> dict[str, Any]:
        return {"above": self.above}

    def check(self, facts: RunFacts) -> str | None:
        if facts.processed <= 0:
            return None
        rate = facts.rejected / facts.processed
        if rate <= self.above:
            return None
        return (
            f"{facts.pipeline} run {facts.run_id}: {facts.rejected:,} of {facts.processed:,} "
            f"records rejected ({rate:.1%}), above {self.above:.1%}. "
            f"See `polaretl show {facts.run_id}`."
        )


class VolumeDrop(Rule):
    """Fires when a succeeded run processed fewer than `below` x the median of the last
    `runs` succeeded runs (at least one previous run is needed).

    Example:
        >>> VolumeDrop(below=0.5, runs=10)
        VolumeDrop(below=0.5, runs=10)
    """

    def __init__(self, below: float = 0.5, *, runs: int = DEFAULT_HISTORY, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _positive("VolumeDrop", "below", below)
        self.below = float(below)
        self.runs = _history_size("VolumeDrop", runs)

    def _params(self) -> dict[str, Any]:
        return {"below": self.below, "runs": self.runs}

    def check(self, facts: RunFacts) -> str | None:
        if facts.status != RunStatus.SUCCEEDED:
            return None  # a failed run's volume says nothing; RunFailed reports it
        count, median = facts.median_before("processed", self.runs)
        if count < 1 or median is None or facts.processed >= self.below * median:
            return None
        return (
            f"{facts.pipeline} run {facts.run_id} processed {facts.processed:,} records, "
            f"below {self.below:.0%} of the median {median:,.0f} of the last {count} "
            "succeeded runs."
        )


class Duration(Rule):
    """Fires when a run took more than `above` seconds, or more than `factor` x the median
    total seconds of the last `runs` succeeded runs (give one or both).

    Example:
        >>> Duration(above=600), Duration(factor=3.0)
        (Duration(above=600.0), Duration(factor=3.0, runs=5))
    """

    def __init__(
        self,
        above: float | None = None,
        *,
        factor: float | None = None,
        runs: int = DEFAULT_HISTORY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if above is None and factor is None:
            raise ConfigError(
                "Duration needs above=SECONDS or factor=X (times the median of recent runs)."
            )
        _positive("Duration", "above", above)
        _positive("Duration", "factor", factor)
        self.above = float(above) if above is not None else None
        self.factor = float(factor) if factor is not None else None
        self.runs = _history_size("Duration", runs)

    def _params(self) -> dict[str, Any]:
        return {
            "above": self.above,
            "factor": self.factor,
            "runs": self.runs if self.factor is not None else None,
        }

    def check(self, facts: RunFacts) -> str | None:
        if "total" not in facts.timings:
            return None
        took = f"{facts.pipeline} run {facts.run_id} took {facts.seconds:,.1f} s"
        if self.above is not None and facts.seconds > self.above:
            return f"{took}, above {self.above:,.1f} s."
        if self.factor is not None:
            count, median = facts.median_before("seconds", self.runs)
            if count >= 1 and median is not None and facts.seconds > self.factor * median:
                return (
                    f"{took}, more than {self.factor:g}x the median {median:,.1f} s of the "
                    f"last {count} succeeded runs."
                )
        return None


class SchemaChange(Rule):
    """Fires when the run recorded a new version of its source's schema.

    Example:
        >>> SchemaChange(cooldown=0)
        SchemaChange()
    """

    def check(self, facts: RunFacts) -> str | None:
        changes = facts.schema_changes()
        if not changes:
            return None
        parts = []
        for change in changes:
            what = [
                f"{kind} {_names(change.get(kind))}"
                for kind in ("added", "removed", "retyped", "renamed")
                if change.get(kind)
            ]
            parts.append(f"version {change['version']}" + (f": {'; '.join(what)}" if what else ""))
        return (
            f"{facts.pipeline} run {facts.run_id} saw a new source schema, "
            + ", ".join(parts)
            + f". See `polaretl schema {facts.pipeline}`."
        )


def _names(items: Any) -> str:
    """Column names out of the drift lists (as `polaretl.validate.drift` writes them:
    ``{"column", "type"}``, ``{"column", "from", "to"}``, ``{"from", "to"}``; plain names
    are accepted too).

    Example:
        >>> _names([{"column": "id", "from": "integer", "to": "text"}, {"from": "a", "to": "b"},
        ...         {"column": "x", "type": "text"}, "y"])
        'id (integer -> text), a -> b, x (text), y'
    """
    out = []
    for item in items or []:
        if not isinstance(item, dict):
            out.append(str(item))
        elif "column" in item and "from" in item and "to" in item:
            out.append(f"{item['column']} ({item['from']} -> {item['to']})")
        elif "from" in item and "to" in item:
            out.append(f"{item['from']} -> {item['to']}")
        else:
            name = str(item.get("column") or item.get("name"))
            out.append(f"{name} ({item['type']})" if item.get("type") else name)
    return ", ".join(out)


class RunFailed(Rule):
    """Fires when the run failed, with its error.

    Example:
        >>> RunFailed()
        RunFailed()
    """

    def check(self, facts: RunFacts) -> str | None:
        if facts.status != RunStatus.FAILED:
            return None
        return f"{facts.pipeline} run {facts.run_id} failed: {facts.error or 'no error recorded'}"
