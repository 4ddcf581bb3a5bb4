"""A smoke run of the benchmark suite at a tiny size: it runs end to end and writes its
outputs. Speed is never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres


def test_suite_smoke(tmp_path: Path, pg_dsn: str) -> None:
    from benchmarks import suite

    code = suite.main(
        [
            "--rows",
            "2000",
            "--repeat",
            "1",
            "--sweep",
            "1000",
            "--chunk-size",
            "1000",
            "--skip-10m",
            "--skip-celery",
            "--skip-peers",
            "--dsn",
            pg_dsn,
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    (result,) = tmp_path.glob("bench-*.json")
    payload = json.loads(result.read_text())
    paths = [r["path"] for r in payload["load"]["results"]]
    assert paths == ["copy", "append", "upsert-first", "upsert-rerun", "no-checks"]
    assert all(r["rows_per_s"] > 0 for r in payload["load"]["results"])
    assert payload["chunk_sweep"][0]["peak_rss_mib"] > 0
    assert payload["machine"]["cores"] >= 1
    assert "## Performance" in (tmp_path / "PERFORMANCE.md").read_text()
