"""Overview: every pipeline's last status and success rate, rows loaded and rejection
rate over time."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from polaretl.app import data, ui
from polaretl.record.runs import RunStatus

# plain characters: every browser's fonts have them (emoji are missing on many servers)
ICONS: dict[str, str] = {
    RunStatus.SUCCEEDED: "✓",
    RunStatus.FAILED: "✗",
    RunStatus.RUNNING: "…",
    RunStatus.SKIPPED: "–",
}


def status_label(status: pl.Expr) -> pl.Expr:
    """A status with its icon, for tables ("never run" when null)."""
    icon = status.replace_strict(ICONS, default="•", return_dtype=pl.String)
    return (
        pl.when(status.is_null())
        .then(pl.lit("never run"))
        .otherwise(pl.concat_str(icon, pl.lit(" "), status))
    )


def render() -> None:
    """The Overview page."""
    settings = ui.settings()
    st.title("Overview")
    since = ui.window_choice(key="overview_window")
    known = list(ui.workspace_pipelines(settings.project))
    summary = data.pipelines(settings.url, since=since, known=known)
    if summary.height == 0:
        st.info("No pipeline has run yet. Start one with **Run now** or `polaretl run NAME`.")
        return
    runs = int(summary["runs"].fill_null(0).sum())
    processed = int(summary["processed"].fill_null(0).sum())
    rejected = int(summary["rejected"].fill_null(0).sum())
    finished = int((summary["succeeded"].fill_null(0) + summary["failed"].fill_null(0)).sum())
    cols = st.columns(5)
    cols[0].metric("Pipelines", summary.height)
    cols[1].metric("Runs", f"{runs:,}")
    cols[2].metric(
        "Success rate",
        ui.percent(int(summary["succeeded"].fill_null(0).sum()) / finished if finished else None),
    )
    cols[3].metric("Rows loaded", f"{int(summary['loaded'].fill_null(0).sum()):,}")
    cols[4].metric("Rejection rate", ui.percent(rejected / processed if processed else None))

    table = summary.select(
        "pipeline",
        status_label(pl.col("last_status")).alias("last status"),
        pl.col("last_run").alias("run_id"),
        pl.col("last_finished").alias("finished"),
        pl.col("last_seconds").round(2).alias("seconds"),
        pl.col("success_rate").alias("success rate"),
        "runs",
        pl.col("loaded").alias("rows loaded"),
        pl.col("rejection_rate").alias("rejection rate"),
        pl.col("last_error").alias("last error"),
    )
    ui.table(
        ui.with_run_links(table),
        column_config={
            "run": ui.run_link_column(),
            "success rate": st.column_config.NumberColumn(format="percent"),
            "rejection rate": st.column_config.NumberColumn(format="percent"),
        },
    )

    points = data.series(settings.url, since=since)
    if points.height == 0:
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Rows loaded per run")
        st.altair_chart(_chart(points, "loaded", "rows loaded"), width="stretch")
    with right:
        st.subheader("Rejection rate per run")
        rates = points.with_columns(pl.col("rejection_rate").fill_null(0.0))
        st.altair_chart(_chart(rates, "rejection_rate", "rejected", percent=True), width="stretch")


def _chart(points: pl.DataFrame, field: str, title: str, *, percent: bool = False) -> alt.Chart:
    """One line per pipeline, a point per run, with the run in the tooltip."""
    y = alt.Y(field, title=title, axis=alt.Axis(format="%" if percent else ",d"))
    chart: alt.Chart = (
        alt.Chart(points)
        .mark_line(point=True)
        .encode(
            x=alt.X("at:T", title=None),
            y=y,
            color=alt.Color("pipeline:N", title="pipeline"),
            tooltip=[
                "pipeline",
                "run_id",
                alt.Tooltip("at:T", title="finished", format="%Y-%m-%d %H:%M"),
                alt.Tooltip(field, title=title, format=".1%" if percent else ","),
            ],
        )
        .properties(height=280)
    )
    return chart
