"""Runs: the run history, filtered by pipeline, status and period."""

from __future__ import annotations

import polars as pl
import streamlit as st

from polaretl.app import data, ui
from polaretl.app.overview import status_label


def render() -> None:
    """The Runs page."""
    settings = ui.settings()
    st.title("Runs")
    left, middle, right = st.columns(3)
    with left:
        pipeline = ui.pipeline_choice(settings.url, key="runs_pipeline")
    with middle:
        choice = st.selectbox("Status", ["any status", *data.STATUSES], key="runs_status")
        status = None if choice == "any status" else str(choice)
    with right:
        since = ui.window_choice(key="runs_window", default="all time")
    history = data.runs(settings.url, pipeline=pipeline, status=status, since=since)
    st.caption(f"{history.height:,} runs" + (" (the latest 500)" if history.height == 500 else ""))
    if history.height == 0:
        st.info("No runs match.")
        return
    shown = history.select(
        "run_id",
        "pipeline",
        status_label(pl.col("status")).alias("status"),
        "started_at",
        pl.col("seconds").round(2),
        "processed",
        "valid",
        "rejected",
        "loaded",
        pl.col("rejection_rate").alias("rejection rate"),
        "executor",
        "error",
    )
    ui.table(
        ui.with_run_links(shown),
        column_config={
            "run": ui.run_link_column(),
            "rejection rate": st.column_config.NumberColumn(format="percent"),
        },
    )
