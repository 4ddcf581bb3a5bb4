"""One polaretl run in a fresh process, for its own peak RSS (chunk sweep, 10M rows).

``python -m benchmarks.child --url URL --csv FILE --table T --mode append --chunk-size N``
prints one JSON line (after an untimed 1,000-row warm-up run): seconds, stage timings,
counts and ``peak_rss_mib``, the process's ``VmHWM`` read from ``/proc/self/status`` at
the end. ``ru_maxrss`` of a child would not do: Linux carries the forked parent's
high-water mark over ``exec``. `measure` runs it from the suite and parses the line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.load import ROOT, STAGES, drop_table, make_pipeline, warm_up


def vm_hwm_mib() -> float | None:
    """This process's peak resident set size, from ``/proc/self/status`` (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_once(url: str, csv: Path, table: str, mode: str, chunk_size: int) -> dict[str, Any]:
    drop_table(url, table)
    pipeline = make_pipeline(csv, table, mode, chunk_size)
    t0 = time.perf_counter()
    result = pipeline.run(database_url=url, full_refresh=True)
    seconds = time.perf_counter() - t0
    if not result.succeeded:
        raise RuntimeError(result.summary())
    out = {
        "seconds": seconds,
        "stages": {s: float(result.timings.get(s, 0.0)) for s in STAGES},
        "processed": result.processed,
        "loaded": result.loaded,
        "rejected": result.rejected,
        "peak_rss_mib": vm_hwm_mib(),
    }
    drop_table(url, table)
    return out


def measure(url: str, csv: Path, *, mode: str, chunk_size: int, table: str) -> dict[str, Any]:
    """Run `run_once` in a new interpreter and return what it printed."""
    if csv.is_relative_to(ROOT):  # rows' source label, as a connector would give it
        csv = csv.relative_to(ROOT)
    command = [
        sys.executable,
        "-m",
        "benchmarks.child",
        "--url",
        url,
        "--csv",
        str(csv),
        "--table",
        table,
        "--mode",
        mode,
        "--chunk-size",
        str(chunk_size),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.child failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--table", default="bench_child")
    parser.add_argument("--mode", default="append")
    parser.add_argument("--chunk-size", type=int, default=100_000)
    args = parser.parse_args(argv)
    # untimed: imports and Pandera's lazily registered backends, as the load table does
    warm_up(args.url, args.chunk_size, [])
    out = run_once(args.url, args.csv, args.table, args.mode, args.chunk_size)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
