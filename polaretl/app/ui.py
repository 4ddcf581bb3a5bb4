"""Shared pieces of the ops app's pages: settings, the password gate, filters, formats."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from polaretl import db
from polaretl.app import data, guard
from polaretl.errors import PolaretlError
from polaretl.record.runs import RunStatus
from polaretl.redact import redact_url
from polaretl.settings import current
from polaretl.workspace import load_pipelines

STATUS_COLOURS: dict[str, str] = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.RUNNING: "orange",
    RunStatus.SKIPPED: "gray",
}
WINDOWS: dict[str, dt.timedelta | None] = {
    "last 24 hours": dt.timedelta(days=1),
    "last 7 days": dt.timedelta(days=7),
    "last 30 days": dt.timedelta(days=30),
    "last 90 days": dt.timedelta(days=90),
    "all time": None,
}


@dataclass(frozen=True)
class Settings:
    """Where the app reads: the workspace and its database."""

    project: Path
    url: str


def settings() -> Settings:
    """The workspace (``POLARETL_APP_PROJECT``, else here) and the database the CLI uses
    (``POLARETL_DATABASE_URL``, else the workspace's embedded one)."""
    project = (current().app_project or Path(".")).resolve()
    return Settings(project, db.resolve_url(None, project))


def authenticated() -> bool:
    """The password gate: True when no password is set or the right one was given.
    Failed sign-ins make the client wait before its next one, and are logged
    (`polaretl.app.guard`)."""
    password = current().app_password
    if not password or st.session_state.get("polaretl_authenticated"):
        return True
    st.title("polaretl")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        address = st.context.ip_address  # None for a client on this machine
        client = address if isinstance(address, str) and address else "this machine"
        wait = guard.GUARD.wait(client)
        if wait > 0:  # refused unchecked: guessing gets no faster than the backoff
            guard.log_failure(client, guard.GUARD.failures(client), wait, refused=True)
            st.error(f"Too many failed sign-ins: try again in {math.ceil(wait)} s.")
            return False
        if hmac.compare_digest(given.encode(), password.encode()):
            guard.GUARD.succeeded(client)
            st.session_state["polaretl_authenticated"] = True
            st.rerun()
        wait = guard.GUARD.failed(client)
        guard.log_failure(client, guard.GUARD.failures(client), wait)
        st.error("Wrong password.")
    return False


def host_allowed() -> bool:
    """False (with a note) when the request's Host is not a loopback name and the app
    is bound to loopback: a rebound DNS name must not reach the pages."""
    address = st.get_option("server.address")
    host = st.context.headers.get("Host")
    host = host if isinstance(host, str) else None  # no request (Streamlit's AppTest)
    if guard.host_allowed(str(address) if address else None, host):
        return True
    st.error("This app answers to localhost only.")
    return False


def workspace_pipelines(project: Path) -> dict[str, Any]:
    """The workspace's pipelines by name; empty (with a note) if they cannot be loaded."""
    try:
        return dict(load_pipelines(project))
    except PolaretlError as exc:
        st.caption(f"Workspace pipelines not loaded: {exc}")
        return {}


def pipeline_choice(url: str, *, key: str, extra: list[str] | None = None) -> str | None:
    """A pipeline filter (None: all pipelines)."""
    names = sorted(set(data.pipeline_names(url)) | set(extra or []))
    choice = st.selectbox("Pipeline", ["all pipelines", *names], key=key)
    return None if choice == "all pipelines" else str(choice)


def window_choice(*, key: str, default: str = "last 30 days") -> dt.datetime | None:
    """A time window filter: the start of the window (None: all time)."""
    names = list(WINDOWS)
    choice = st.selectbox("Period", names, index=names.index(default), key=key)
    span = WINDOWS[str(choice)]
    return dt.datetime.now(dt.UTC) - span if span is not None else None


def status(value: str | None) -> str:
    """A run status in its colour (Streamlit markdown)."""
    if not value:
        return "never run"
    return f":{STATUS_COLOURS.get(value, 'gray')}[{value}]"


def percent(value: float | None) -> str:
    """A rate as a percentage; '-' when there is none.

    Example:
        >>> percent(0.1342), percent(None)
        ('13.4%', '-')
    """
    return "-" if value is None else f"{value:.1%}"


def table(frame: pl.DataFrame, **kwargs: Any) -> None:
    """A read-only table across the page."""
    st.dataframe(frame, width="stretch", hide_index=True, **kwargs)


def run_link_column() -> Any:
    """A column of links to the Run detail page."""
    return st.column_config.LinkColumn("run", display_text=r"run=(\d+)", width="small")


def with_run_links(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace ``run_id`` by a first column ``run`` that links to the run's detail page."""
    if "run_id" not in frame.columns or frame.height == 0:
        return frame
    link = pl.concat_str(pl.lit("./run?run="), pl.col("run_id").cast(pl.String))
    return frame.select(link.alias("run"), pl.all().exclude("run_id"))


def channels_text(channels: str | None) -> str:
    """``{"log": "ok", "webhook:...": "HTTP 500"}`` as one readable line.

    Example:
        >>> channels_text('{"log": "ok", "slack:https://hooks.slack.com": "HTTP 404"}')
        'log ✓ · slack:https://hooks.slack.com ✗ HTTP 404'
    """
    items = json.loads(channels or "{}").items()
    return " · ".join(f"{k} ✓" if v == "ok" else f"{k} ✗ {v}" for k, v in items)


def database_caption(url: str) -> None:
    st.caption(f"database: {redact_url(url)}")
