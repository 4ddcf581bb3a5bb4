"""Evaluate a pipeline's alert rules when one of its runs has finished.

    for each rule in pipeline.alerts:
        message = rule.check(run)                 # None: quiet
        claim a row in polaretl.alerts            # unless the rule's cooldown is running
        send through each channel                 # "ok" or the error text, per channel
        record the channel results on that row

Which channels a firing goes to: the rule's own ``channels=``, else the channels listed
among the pipeline's alerts (``alerts=[pe.RunFailed(), pe.Slack(url)]``: a pipeline-level
default), else those configured by ``POLARETL_ALERT_*`` variables, else `Log`.

The cooldown check and the claim happen in one transaction under an advisory lock per
(pipeline, rule), so two processes finishing runs at once cannot both send the same
alert. The row is written before anything is sent (channels "pending"): a process that
dies while sending leaves a visible trace instead of a silent gap.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polaretl.alerts.channels import Alert, Channel, Log, deliver
from polaretl.alerts.rules import Rule, RunFacts
from polaretl.alerts.settings import from_env
from polaretl.core import Connection
from polaretl.definition import Definition
from polaretl.errors import ConfigError
from polaretl.record import alerts as alert_records
from polaretl.redact import redact_text

log = logging.getLogger("polaretl.alerts")


@dataclass(frozen=True)
class Fired:
    """An alert that fired and was sent: its row in ``polaretl.alerts``."""

    id: int
    rule: str
    pipeline: str
    run_id: int
    message: str
    channels: dict[str, str]
    fired_at: dt.datetime

    @property
    def delivered(self) -> bool:
        """Whether every channel reported "ok"."""
        return all(v == "ok" for v in self.channels.values())


def split_alerts(items: Iterable[Any], *, strict: bool = True) -> tuple[list[Rule], list[Channel]]:
    """The rules and the pipeline-level channels of a pipeline's ``alerts=`` list.

    Raises:
        ConfigError: an item is neither a rule nor a channel (with `strict`; else the
            item is logged and skipped).

    Example:
        >>> from polaretl.alerts import FailureRate, Log
        >>> split_alerts([FailureRate(above=0.1), Log()])
        ([FailureRate(above=0.1)], [Log('log')])
    """
    rules: list[Rule] = []
    channels: list[Channel] = []
    for item in items:
        if isinstance(item, Rule):
            rules.append(item)
        elif isinstance(item, Channel):
            channels.append(item)
        else:
            error = ConfigError(
                f"alerts= takes rules (pe.FailureRate, pe.VolumeDrop, pe.Duration, "
                f"pe.SchemaChange, pe.RunFailed) and channels (pe.Log, pe.Webhook, pe.Slack, "
                f"pe.Email, pe.Apprise), not {item!r}."
            )
            if strict:
                raise error
            log.error("%s It is ignored.", error)
    return rules, channels


def channels_for(
    rule: Rule, defaults: list[Channel], environ: Mapping[str, str] | None = None
) -> list[Channel]:
    """Where `rule` sends: its own channels, the pipeline's, the environment's, or Log."""
    if rule.channels:
        return list(rule.channels)
    return list(defaults) or from_env(environ) or [Log()]


def evaluate_run(
    conn: Connection,
    pipeline: Definition,
    run_id: int,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[Fired]:
    """Check each of the pipeline's rules against finished run `run_id`; send and record
    those that fire (cooldown permitting). A rule or channel that fails is logged or
    recorded, never raised.

    Args:
        conn: an autocommit connection to the database holding ``polaretl.runs``.
        pipeline: the pipeline whose ``alerts`` list holds the rules.
        run_id: the finished run.
        environ: where ``POLARETL_ALERT_*`` channels are read (default: the settings,
            `polaretl.settings.current`).

    Returns:
        The alerts sent, in rule order (not those the cooldown held back).
    """
    rules, defaults = split_alerts(getattr(pipeline, "alerts", None) or [], strict=False)
    if not rules:
        return []
    facts = RunFacts.load(conn, run_id)
    if facts is None:
        log.error("alerts of %s: there is no run %s in polaretl.runs", pipeline.name, run_id)
        return []
    fired: list[Fired] = []
    for rule in rules:
        try:
            message = rule.check(facts)
        except Exception:  # a broken rule must not hide the others, nor fail the run
            log.exception("alert rule %s of %s failed on run %s", rule.name, facts.pipeline, run_id)
            continue
        if message is None:
            continue
        out = _fire(conn, rule, facts, redact_text(message), channels_for(rule, defaults, environ))
        if out is not None:
            fired.append(out)
    return fired


def _fire(
    conn: Connection, rule: Rule, facts: RunFacts, message: str, channels: list[Channel]
) -> Fired | None:
    keys = _keys(channels)
    claimed = alert_records.claim(
        conn,
        pipeline=facts.pipeline,
        rule=rule.name,
        run_id=facts.run_id,
        message=message,
        channels=keys,
        cooldown=rule.cooldown,
    )
    if claimed is None:
        log.info(
            "alert %s of %s (run %s) held back: it fired less than %s ago",
            rule.name,
            facts.pipeline,
            facts.run_id,
            rule.cooldown,
        )
        return None
    alert_id, fired_at = claimed
    alert = Alert(
        id=alert_id,
        rule=rule.name,
        pipeline=facts.pipeline,
        run_id=facts.run_id,
        run_status=facts.status,
        message=message,
        fired_at=fired_at,
    )
    results = {key: deliver(channel, alert) for key, channel in zip(keys, channels, strict=True)}
    alert_records.delivered(conn, alert_id, results)
    for key, result in results.items():
        if result != "ok":
            log.warning(
                "alert %s of %s: channel %s failed: %s", rule.name, facts.pipeline, key, result
            )
    return Fired(alert_id, rule.name, facts.pipeline, facts.run_id, message, results, fired_at)


def _keys(channels: list[Channel]) -> list[str]:
    """Each channel's description, numbered when two describe alike.

    Example:
        >>> _keys([Log(), Log()])
        ['log', 'log #2']
    """
    seen: dict[str, int] = {}
    out = []
    for channel in channels:
        key = channel.describe()
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key} #{seen[key]}")
    return out
