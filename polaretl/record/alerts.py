"""Alerts fired, in ``polaretl.alerts``: one row per firing, written before anything is
sent (channels ``pending``), then the channels' results."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
from psycopg import sql

from polaretl.core import Connection
from polaretl.record.rows import frame, where


def claim(
    conn: Connection,
    *,
    pipeline: str,
    rule: str,
    run_id: int,
    message: str,
    channels: list[str],
    cooldown: dt.timedelta,
) -> tuple[int, dt.datetime] | None:
    """Insert the alert's row unless the rule fired for the pipeline within `cooldown`;
    return (id, fired_at), or None when held back.

    The check and the insert happen in one transaction under an advisory lock per
    (pipeline, rule), so two processes finishing runs at once cannot both claim it.
    """
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"polaretl:alert:{pipeline}:{rule}",),
        )
        recent = conn.execute(
            "SELECT 1 FROM polaretl.alerts WHERE pipeline = %s AND rule = %s "
            "AND fired_at > now() - make_interval(secs => %s) LIMIT 1",
            (pipeline, rule, cooldown.total_seconds()),
        ).fetchone()
        if recent is not None:
            return None
        got = conn.execute(
            "INSERT INTO polaretl.alerts (run_id, pipeline, rule, message, channels) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id, fired_at",
            (run_id, pipeline, rule, message, json.dumps(dict.fromkeys(channels, "pending"))),
        ).fetchone()
    assert got is not None
    return int(got[0]), got[1]


def delivered(conn: Connection, alert_id: int, results: dict[str, str]) -> None:
    """Record each channel's result ("ok" or the error) on the alert's row."""
    conn.execute(
        "UPDATE polaretl.alerts SET channels = %s WHERE id = %s", (json.dumps(results), alert_id)
    )


def listing(
    conn: Connection,
    *,
    pipeline: str | None = None,
    run_id: int | None = None,
    rule: str | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """Alerts fired, newest first; ``failed_channels`` counts channels that did not say ok."""
    clause, params = where(pipeline=pipeline, run_id=run_id, rule=rule)
    statement = sql.SQL(
        "SELECT id, fired_at, pipeline, rule, run_id, message, channels::text AS channels,"
        " (SELECT count(*) FROM jsonb_each_text(channels) c WHERE c.value <> 'ok')"
        "  AS failed_channels"
        " FROM polaretl.alerts {} ORDER BY id DESC LIMIT %s"
    ).format(clause)
    return frame(conn, statement, [*params, limit], empty_as_text=True)
