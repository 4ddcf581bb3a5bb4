"""Schemas: each source's recorded schema versions and what changed between them."""

from __future__ import annotations

import streamlit as st

from polaretl.app import data, ui


def render() -> None:
    """The Schemas page."""
    settings = ui.settings()
    st.title("Schemas")
    pipeline = ui.pipeline_choice(settings.url, key="schemas_pipeline")
    versions = data.schema_versions(settings.url, pipeline=pipeline)
    if versions.height == 0:
        st.info("No schema versions recorded yet (schema-drift detection writes them).")
        return
    ui.table(
        ui.with_run_links(versions.drop("columns")), column_config={"run": ui.run_link_column()}
    )
    for name in versions["pipeline"].unique(maintain_order=True).to_list():
        mine = versions.filter(versions["pipeline"] == name).sort("version")
        numbers = [int(v) for v in mine["version"]]
        st.subheader(f"{name}: version diff")
        left, right = st.columns(2)
        with left:
            old = st.selectbox(
                "From version", numbers, index=max(len(numbers) - 2, 0), key=f"from_{name}"
            )
        with right:
            new = st.selectbox("To version", numbers, index=len(numbers) - 1, key=f"to_{name}")
        by_version = {int(r["version"]): r["columns"] for r in mine.iter_rows(named=True)}
        diff = data.schema_diff(by_version[int(old)], by_version[int(new)])
        if diff.height:
            ui.table(diff)
        else:
            st.caption("No difference in columns or types.")
        with st.expander(f"Columns of version {new}"):
            types = data.column_types(by_version[int(new)])
            ui.table(data.schema_diff({}, types).select("column", type="after"))
