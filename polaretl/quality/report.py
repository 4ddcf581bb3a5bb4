"""What ``polaretl show RUN_ID`` tells about a run's data quality.

`run_quality` gathers it as plain data (for ``--json``) and `lines` renders it:

- the schema changes the run recorded (version, where, what changed);
- keys repeated across batches (``run_duplicates``) and those quarantined for it;
- for a replay run (``NAME:replay``): the records it loaded, and those still pending.
"""

from __future__ import annotations

from typing import Any

from polaretl.core import Connection
from polaretl.record import quarantine, runs, schema_versions


def run_quality(conn: Connection, run_id: int) -> dict[str, Any]:
    """Schema changes, duplicate counts and replay outcome of one run."""
    changes = schema_versions.history(conn, run_id=run_id)
    run = runs.get(conn, run_id)
    metrics: dict[str, Any] = dict(run.metrics) if run is not None else {}
    out: dict[str, Any] = {
        "schema_changes": [
            {
                "version": c["version"],
                "source": c["source"],
                "change": schema_versions.describe(c),
                "columns": c["columns"],
            }
            for c in changes.to_dicts()
        ],
        "run_duplicates": int(metrics.get("run_duplicates", 0)),
        "duplicates_quarantined": int(metrics.get("duplicates_quarantined", 0)),
    }
    if "replayed" in metrics:
        out["replay"] = {
            "replayed": quarantine.replayed_by(conn, run_id),
            "still_pending": int(metrics.get("still_pending", 0)),
            "needs_correction": int(metrics.get("needs_correction", 0)),
            "skipped": int(metrics.get("skipped", 0)),
        }
    return out


def lines(quality: dict[str, Any]) -> list[str]:
    """Human lines for `run_quality`'s result.

    Example:
        >>> lines({"schema_changes": [{"version": 2, "source": "a.csv", "change": "added x (text)",
        ...        "columns": "x:text"}], "run_duplicates": 1, "duplicates_quarantined": 0})
        ['schema v2 (a.csv): added x (text)', 'keys repeated across batches: 1 (last copy loaded)']
    """
    out = [
        f"schema v{c['version']} ({c['source']}): {c['change']}" for c in quality["schema_changes"]
    ]
    if quality["run_duplicates"] or quality["duplicates_quarantined"]:
        how = (
            f"{quality['duplicates_quarantined']} quarantined"
            if quality["duplicates_quarantined"]
            else "last copy loaded"
        )
        out.append(f"keys repeated across batches: {quality['run_duplicates']} ({how})")
    replay = quality.get("replay")
    if replay:
        out.append(
            f"replayed {replay['replayed']} record(s); still pending {replay['still_pending']}, "
            f"need a correction {replay['needs_correction']}, skipped {replay['skipped']}"
        )
    return out
