"""The "Run now" panel: start an on-demand run and show its run id when it appears."""

from __future__ import annotations

import streamlit as st

from polaretl.app import actions, ui
from polaretl.errors import PolaretlError

_LAUNCH = "polaretl_launch"


def render() -> None:
    """Pick a workspace pipeline and start a run (sidebar of every page)."""
    settings = ui.settings()
    st.subheader("Run now")
    names = sorted(ui.workspace_pipelines(settings.project))
    if not names:
        st.caption("No pipelines in this workspace.")
        return
    name = st.selectbox("Pipeline", names, key="run_now_pipeline")
    executors = [actions.LOCAL, actions.CELERY]
    executor = st.radio(
        "Executor",
        executors,
        key="run_now_executor",
        horizontal=True,
        help="local: a `polaretl run` process on this machine; celery: the workers "
        "(`polaretl worker` must be running).",
    )
    if st.button("Run now", key="run_now_button", type="primary"):
        try:
            launch = actions.run_now(
                str(name),
                project=settings.project,
                database_url=settings.url,
                executor=str(executor),
            )
        except PolaretlError as exc:
            st.error(str(exc))
            return
        with st.spinner("Starting…"):
            run_id = actions.wait_for_run(settings.url, launch, timeout=10.0)
        st.session_state[_LAUNCH] = (launch, run_id)
    if _LAUNCH in st.session_state:
        _report(settings.url)


def _report(url: str) -> None:
    """What became of the last run started here."""
    launch, run_id = st.session_state[_LAUNCH]
    if run_id is None:
        run_id = actions.find_run(url, launch)
        st.session_state[_LAUNCH] = (launch, run_id)
    if run_id is not None:
        st.success(f"{launch.pipeline}: run {run_id} started.")
        st.markdown(f"[Open run {run_id}](./run?run={run_id})")
        return
    if launch.pid is not None and not actions.is_alive(launch.pid):
        st.error(f"{launch.pipeline}: the run did not start.")
        tail = actions.log_tail(launch)
        if tail:
            st.code(tail, language="text")
    else:
        st.info(f"{launch.pipeline}: starting (pid {launch.pid}); its run id shows here soon.")
