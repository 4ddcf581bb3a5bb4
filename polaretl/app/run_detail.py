"""Run detail: one run's counts, stage timings, error, rejections, schema changes and
alerts."""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from polaretl.app import data, ui
from polaretl.cli_types import parse_id


def _pick_run(url: str) -> int | None:
    """The run to show: ``?run=ID`` in the address, else a choice of recent runs."""
    recent = data.runs(url, limit=200)
    ids = [int(r) for r in recent["run_id"]]
    wanted = st.query_params.get("run")
    asked = parse_id(wanted)  # None for anything but a run id (?run=²: no traceback)
    if asked is not None and asked not in ids:
        ids.insert(0, asked)
    if not ids:
        return None
    labels = {
        int(
            r["run_id"]
        ): f"{r['run_id']} · {r['pipeline']} · {r['status']} · {r['started_at']:%Y-%m-%d %H:%M}"
        for r in recent.iter_rows(named=True)
    }
    index = ids.index(asked) if asked is not None else 0
    chosen = st.selectbox(
        "Run", ids, index=index, format_func=lambda i: labels.get(i, str(i)), key="detail_run"
    )
    if chosen is not None and str(chosen) != wanted:
        st.query_params["run"] = str(chosen)
    return int(chosen) if chosen is not None else None


def render() -> None:
    """The Run detail page."""
    settings = ui.settings()
    st.title("Run detail")
    run_id = _pick_run(settings.url)
    if run_id is None:
        st.info("No runs yet.")
        return
    run = data.run(settings.url, run_id)
    if run is None:
        st.error(f"There is no run {run_id} in this database.")
        return
    st.markdown(
        f"**{run['pipeline']}** run **{run_id}** {ui.status(run['status'])} · executor "
        f"{run['executor']} · started {run['started_at']:%Y-%m-%d %H:%M:%S} · "
        + (f"finished {run['finished_at']:%Y-%m-%d %H:%M:%S}" if run["finished_at"] else "running")
    )
    cols = st.columns(6)
    for col, key in zip(
        cols, ("processed", "valid", "rejected", "loaded", "batches"), strict=False
    ):
        col.metric(key.capitalize(), f"{int(run[key]):,}")
    total = (run.get("timings") or {}).get("total")
    cols[5].metric("Seconds", f"{float(total):.2f}" if total is not None else "-")
    if run["error"]:
        st.error(run["error"])
        if run.get("traceback"):
            with st.expander("Traceback"):
                st.code(run["traceback"], language="text")

    timing, rejects = st.columns(2)
    with timing:
        st.subheader("Seconds per stage")
        stages = data.stage_timings(settings.url, run_id)
        if stages.height:
            st.bar_chart(stages, x="stage", y="seconds", horizontal=True, sort=False, x_label="s")
        else:
            st.caption("No stage timings recorded.")
        metrics = run.get("metrics") or {}
        if metrics:
            st.caption(
                "metrics: "
                + ", ".join(
                    f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in metrics.items()
                )
            )
    with rejects:
        st.subheader("Rejections by column and check")
        reasons = data.rejections(settings.url, run_id=run_id)
        if reasons.height:
            ui.table(reasons)
        else:
            st.caption("No record rejected.")

    st.subheader("Schema changes")
    changes = data.schema_versions(settings.url, run_id=run_id)
    if changes.height:
        ui.table(changes.drop("columns"))
    else:
        st.caption("No new schema version recorded by this run.")

    st.subheader("Alerts fired")
    fired = data.alerts(settings.url, run_id=run_id)
    if fired.height:
        shown = fired.with_columns(
            pl.Series("channels", [ui.channels_text(c) for c in fired["channels"]], pl.String)
        )
        ui.table(shown.select("fired_at", "rule", "channels", "message"))
        for row in fired.iter_rows(named=True):
            failed = {k: v for k, v in json.loads(row["channels"]).items() if v != "ok"}
            for channel, error in failed.items():
                st.warning(f"{row['rule']}: channel {channel} failed: {error}")
    else:
        st.caption("No alert fired for this run.")
    st.caption(f"`polaretl show {run_id}` prints the same from the shell.")
