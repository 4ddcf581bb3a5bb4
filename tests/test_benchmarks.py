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
            "--skip-objects",
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


def test_objects_smoke() -> None:
    """The object-storage benchmark reads from a real S3-compatible server (moto)."""
    from benchmarks import objects

    result = objects.measure(2000, 0, 1, 0, skip_hosts=True)
    for kind in ("csv", "parquet"):
        local, s3 = result["reads"][kind]["local"], result["reads"][kind]["s3"]
        assert local["rows"] == s3["rows"] > 0  # the same records, from disk and from S3
        assert s3["rows_per_s"] > 0 and s3["peak_rss_mib"] > 0
    assert "S3 / local" in objects.table_markdown(result)
