"""Schedules: a pipeline's ``schedule=`` as a Celery Beat entry.

A schedule is a five-field cron expression (``*/30 * * * *``) or a fixed interval
(``30s``, ``5m``, ``2h``, or a number of seconds). Beat only sends ``polaretl.start``;
the run lock makes a second start of a running pipeline a ``skipped`` run, so two beat
processes or a run slower than its interval never overlap.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from celery.schedules import crontab

from polaretl.errors import ConfigError
from polaretl.run.celery_app import default_queue

_INTERVAL = re.compile(r"^\s*(?:every\s+)?(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|d|day)?s?\s*$")
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_schedule(spec: str | int | float) -> crontab | dt.timedelta:
    """A schedule string as a Celery schedule.

    Example:
        >>> parse_schedule("90s")
        datetime.timedelta(seconds=90)
        >>> parse_schedule("*/30 * * * *")
        <crontab: */30 * * * * (m/h/dM/MY/d)>
    """
    if isinstance(spec, int | float):
        return dt.timedelta(seconds=float(spec))
    match = _INTERVAL.match(spec)
    if match:
        return dt.timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2) or "s"])
    fields = spec.split()
    if len(fields) != 5:
        raise ConfigError(
            f"Schedule {spec!r} is neither a cron expression of five fields "
            "(minute hour day-of-month month day-of-week) nor an interval like '30s' or '5m'."
        )
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except ValueError as exc:
        raise ConfigError(f"Schedule {spec!r} is not a valid cron expression: {exc}") from exc


def beat_schedule(pipelines: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Beat entries for every pipeline that has a schedule."""
    return {
        f"polaretl:{p.name}": {
            "task": "polaretl.start",
            "schedule": parse_schedule(p.schedule),
            "args": [p.name],
            "options": {"queue": p.queue or default_queue()},
        }
        for p in pipelines
        if p.schedule
    }
