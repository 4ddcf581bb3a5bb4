"""The polaretl ops app (Streamlit): ``polaretl app`` runs ``streamlit run`` on this file.

Pages: Overview, Runs, Run detail, Quarantine, Schemas, Alerts; "Run now" in the
sidebar. Settings come from the environment `polaretl.app.launch` prepares:
``POLARETL_APP_PROJECT`` (the workspace), ``POLARETL_DATABASE_URL`` and, for shared
use, ``POLARETL_APP_PASSWORD``.
"""

from __future__ import annotations

import streamlit as st

from polaretl.app import alerts, overview, quarantine, run_detail, runnow, runs, schemas, ui


def main() -> None:
    """Draw the app: the password gate, then the page picked in the sidebar."""
    st.set_page_config(page_title="polaretl", page_icon=":material/database:", layout="wide")
    if not ui.host_allowed() or not ui.authenticated():
        return
    pages = [
        st.Page(
            overview.render,
            title="Overview",
            icon=":material/dashboard:",
            url_path="overview",
            default=True,
        ),
        st.Page(runs.render, title="Runs", icon=":material/history:", url_path="runs"),
        st.Page(run_detail.render, title="Run detail", icon=":material/search:", url_path="run"),
        st.Page(
            quarantine.render, title="Quarantine", icon=":material/block:", url_path="quarantine"
        ),
        st.Page(schemas.render, title="Schemas", icon=":material/schema:", url_path="schemas"),
        st.Page(alerts.render, title="Alerts", icon=":material/notifications:", url_path="alerts"),
    ]
    page = st.navigation(pages)
    settings = ui.settings()
    with st.sidebar:
        runnow.render()
        ui.database_caption(settings.url)
    page.run()


if __name__ == "__main__":  # Streamlit runs this file as __main__
    main()
