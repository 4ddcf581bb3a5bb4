"""Quarantine: rejected records by reason, each record's raw input and errors; replay
(as stored or edited) and discard through ``polaretl.api``."""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl
import streamlit as st

from polaretl.app import actions, data, ui
from polaretl.errors import PolaretlError
from polaretl.record.quarantine import QuarantineStatus
from polaretl.record.runs import RunResult

_ANY = "any status"
_FLASH = "polaretl_quarantine_flash"


def _reason_label(column: str | None, check: str) -> str:
    return f"{column or '(whole record)'} · {check}"


def render() -> None:
    """The Quarantine page."""
    settings = ui.settings()
    st.title("Quarantine")
    if _FLASH in st.session_state:
        kind, text = st.session_state.pop(_FLASH)
        (st.success if kind == "success" else st.error)(text)
    left, right = st.columns(2)
    with left:
        pipeline = ui.pipeline_choice(settings.url, key="q_pipeline")
    with right:
        choice = st.selectbox("Status", [*map(str, QuarantineStatus), _ANY], key="q_status")
        status = None if choice == _ANY else str(choice)

    reasons = data.quarantine_reasons(settings.url, pipeline=pipeline, status=status)
    if reasons.height == 0:
        st.info("No quarantined records match.")
        return
    st.subheader("By reason")
    ui.table(reasons)
    options: dict[str, tuple[str | None, str] | None] = {"all reasons": None}
    for row in reasons.iter_rows(named=True):
        options[_reason_label(row["column"], row["check"])] = (row["column"], row["check"])
    picked = st.selectbox("Reason", list(options), key="q_reason")
    records = data.quarantine_records(
        settings.url, pipeline=pipeline, status=status, reason=options[str(picked)]
    )
    st.subheader(f"Records ({records.height:,})")
    ui.table(
        ui.with_run_links(
            records.select("id", "run_id", "pipeline", "source", "status", "messages", "created_at")
        ),
        column_config={"run": ui.run_link_column()},
    )
    if records.height == 0:
        return
    _inspect(records)
    _act(settings, records, pipeline, status, options[str(picked)])


def _inspect(records: pl.DataFrame) -> None:
    """One record's raw input (exactly as received) and its errors."""
    ids = [int(i) for i in records["id"]]
    record_id = st.selectbox("Record", ids, key="q_record")
    row = records.filter(pl.col("id") == record_id).row(0, named=True)
    raw_col, errors_col = st.columns(2)
    with raw_col:
        st.markdown(f"**Raw record** · {row['source']}")
        st.json(json.loads(row["raw"]))
    with errors_col:
        st.markdown("**Errors**")
        st.json(json.loads(row["errors"]))


def _act(
    settings: ui.Settings,
    records: pl.DataFrame,
    pipeline: str | None,
    status: str | None,
    reason: tuple[str | None, str] | None,
) -> None:
    """Replay as stored, discard with a reason, or edit and replay pending records."""
    st.subheader("Replay, discard or edit")
    if pipeline is None or status != QuarantineStatus.PENDING:
        st.caption("Choose one pipeline and status *pending* to replay or discard records.")
        return
    url, project = settings.url, settings.project
    ids = st.multiselect("Records", [int(i) for i in records["id"]], key="q_selected")
    replay_col, discard_col = st.columns(2)
    with replay_col:
        if st.button("Replay selected as stored", disabled=not ids, key="q_replay"):
            _do(lambda: _summary(actions.replay(pipeline, ids, database_url=url, project=project)))
    with discard_col:
        why = st.text_input("Reason to discard", key="q_reason_text")
        if st.button("Discard selected", disabled=not ids, key="q_discard"):

            def discard() -> str:
                count = actions.discard(
                    pipeline, ids, reason=why, database_url=url, project=project
                )
                return f"Discarded {count} records."

            _do(discard)
    original = actions.editable(
        pipeline,
        database_url=url,
        project=project,
        column=reason[0] if reason else None,
        check=reason[1] if reason else None,
    )
    if original.height == 0:
        return
    st.markdown(
        "**Edit and replay**: correct the fields (a record that could not be parsed shows "
        "its text in `_quarantine_raw`), then replay the rows you changed."
    )
    context = [c for c in original.columns if c.startswith("_quarantine_")]
    edited = st.data_editor(original, disabled=context, hide_index=True, key="q_editor")
    key = "_quarantine_id"
    fields = [c for c in original.columns if c not in context]
    changed = actions.changed_rows(
        original.select(key, *fields), pl.DataFrame(edited).select(key, *fields), key
    )
    if st.button(
        f"Replay {changed.height} edited records", disabled=changed.height == 0, key="q_edited"
    ):
        _do(
            lambda: _summary(
                actions.replay(
                    pipeline,
                    [int(i) for i in changed[key]],
                    database_url=url,
                    project=project,
                    corrections=changed,
                )
            )
        )


def _summary(result: RunResult) -> str:
    return result.summary()


def _do(action: Callable[[], str]) -> None:
    """Run an action; show its outcome after the page reloads with fresh records."""
    try:
        st.session_state[_FLASH] = ("success", action())
    except PolaretlError as exc:
        st.session_state[_FLASH] = ("error", str(exc))
    st.rerun()
