"""Alerts: alerts fired, their channel results, and the rules each pipeline has."""

from __future__ import annotations

import polars as pl
import streamlit as st

from polaretl.app import data, ui


def render() -> None:
    """The Alerts page."""
    settings = ui.settings()
    st.title("Alerts")
    pipeline = ui.pipeline_choice(settings.url, key="alerts_pipeline")
    fired = data.alerts(settings.url, pipeline=pipeline)
    if fired.height == 0:
        st.info("No alert has fired.")
    else:
        failing = int((fired["failed_channels"] > 0).sum())
        cols = st.columns(2)
        cols[0].metric("Alerts", f"{fired.height:,}")
        cols[1].metric("With a failed channel", f"{failing:,}")
        shown = fired.with_columns(
            pl.Series("channels", [ui.channels_text(c) for c in fired["channels"]], pl.String)
        )
        ui.table(
            ui.with_run_links(
                shown.select("fired_at", "pipeline", "rule", "run_id", "channels", "message")
            ),
            column_config={"run": ui.run_link_column()},
        )
    _rules(settings, pipeline)


def _rules(settings: ui.Settings, pipeline: str | None) -> None:
    """The rules and channels configured on the workspace's pipelines."""
    from polaretl.alerts import channels_for, split_alerts  # noqa: PLC0415

    pipelines = ui.workspace_pipelines(settings.project)
    rows = []
    for name, pipe in sorted(pipelines.items()):
        if pipeline is not None and name != pipeline:
            continue
        rules, defaults = split_alerts(pipe.alerts, strict=False)
        for rule in rules:
            rows.append(
                {
                    "pipeline": name,
                    "rule": rule.name,
                    "cooldown": str(rule.cooldown),
                    "channels": ", ".join(c.describe() for c in channels_for(rule, defaults)),
                }
            )
    st.subheader("Rules")
    if rows:
        ui.table(pl.DataFrame(rows))
    else:
        st.caption("No alert rules on the workspace's pipelines (`alerts=[...]`).")
