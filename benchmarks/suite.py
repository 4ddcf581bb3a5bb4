"""The whole benchmark suite in one run: ``python -m benchmarks`` (``make bench``).

On one generated orders CSV (~1% of rows breaking the contract) and one scratch
database, in order:

1. the load table (`benchmarks.load`): raw ``psql \\copy``, polaretl append, upsert
   (first load and an unchanged re-run), append with the contract's checks off, dlt and
   pandas ``to_sql`` (100k sample), each with rows/s, the ratio to ``\\copy`` and, for
   polaretl, seconds per stage (extract, validate, transform, load, record, total);
2. a chunk-size sweep: append at each ``--sweep`` size, each run in a fresh process whose
   peak RSS (``VmHWM``) is read (`benchmarks.child`);
3. 10M rows: append in a fresh process (peak RSS, the goal is ≤ 1 GiB) and raw
   ``\\copy`` of the same file for the ratio;
4. Celery scaling, 1 then 2 workers (`benchmarks.celery_scaling`), on its own database,
   Redis database 14 and a queue of its own;
5. object storage (`benchmarks.objects`): S3 (moto) vs disk read rows/s and peak RSS,
   then 1 vs 2 worker hosts over 8 S3 objects of 1M rows on network namespaces (root).

Writes ``benchmarks/results/bench-<UTC>.json`` (every figure and the machine's facts),
``bench-<UTC>.png`` beside it and ``PERFORMANCE.md`` (the README's section).

Flags: ``--rows``, ``--repeat``, ``--quick`` (100k rows, 1 repeat, small sweep, no 10M,
small Celery run, no object storage), ``--skip-10m``, ``--skip-celery``, ``--skip-peers``,
``--skip-sweep``, ``--skip-objects``, ``--skip-hosts``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import celery_scaling, child, load, objects, peers, report
from benchmarks.datagen import DEFAULT_ROWS, DEFAULT_SEED, ensure_orders_csv

SWEEP = (10_000, 50_000, 100_000, 250_000, 1_000_000)
BIG_ROWS = 10_000_000
QUICK_ROWS = 100_000
RSS_GOAL_MIB = 1024
NOTES_FILE = Path(__file__).resolve().parent / "NOTES.md"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--rows", type=int, default=None, help=f"CSV rows (default {DEFAULT_ROWS:,})")
    p.add_argument("--repeat", type=int, default=None, help="runs per path, median (default 3)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, a smoke run")
    p.add_argument("--chunk-size", type=int, default=100_000)
    p.add_argument("--sweep", default=None, help="chunk sizes, comma-separated")
    p.add_argument("--big-rows", type=int, default=BIG_ROWS, help="rows of the RSS run")
    p.add_argument("--celery-rows", type=int, default=None, help="default 2,000,000")
    p.add_argument("--skip-10m", action="store_true", help="no 10M-row RSS run")
    p.add_argument("--skip-celery", action="store_true", help="no Celery scaling")
    p.add_argument("--skip-peers", action="store_true", help="no dlt / pandas")
    p.add_argument("--skip-sweep", action="store_true", help="no chunk-size sweep")
    p.add_argument("--skip-objects", action="store_true", help="no object-storage figures")
    p.add_argument("--skip-hosts", action="store_true", help="no 1 vs 2 worker hosts (S3)")
    p.add_argument("--host-rows", type=int, default=1_000_000, help="rows per S3 object")
    p.add_argument("--no-bad-rows", action="store_true", help="a CSV with no bad rows")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--dsn", default=os.environ.get(load.DSN_ENV, load.DEFAULT_DSN))
    p.add_argument(
        "--redis-url", default=os.environ.get("POLARETL_BENCH_REDIS_URL", celery_scaling.REDIS_URL)
    )
    p.add_argument("--results-dir", type=Path, default=load.RESULTS_DIR)
    args = p.parse_args(argv)
    args.rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.repeat = args.repeat or (1 if args.quick else 3)
    sweep = args.sweep or ("10000,50000,100000" if args.quick else ",".join(map(str, SWEEP)))
    args.sweep = [int(x) for x in sweep.split(",") if x.strip()]
    args.skip_10m = args.skip_10m or args.quick
    args.skip_objects = args.skip_objects or args.quick
    args.celery_rows = args.celery_rows or (200_000 if args.quick else 2_000_000)
    if min(args.rows, args.repeat, args.chunk_size, *args.sweep) < 1:
        p.error("--rows, --repeat, --chunk-size and --sweep sizes must be at least 1")
    return args


def load_paths(skip_peers: bool) -> list[str]:
    paths = [p for p in load.PATHS if p not in load.PEERS]
    if skip_peers:
        return paths
    missing = [p for p in load.PEERS if not peers.available(p.split("-")[0])]
    if missing:
        _log(f"skipping {', '.join(missing)}: install the bench extra (pip install -e '.[bench]')")
    return paths + [p for p in load.PEERS if p not in missing]


def run_sweep(url: str, csv: Path, rows: int, sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    for size in sizes:
        load.checkpoint(url)
        got = child.measure(url, csv, mode="append", chunk_size=size, table="bench_sweep")
        got |= {"chunk_size": size, "rows_per_s": rows / got["seconds"]}
        _log(f"  sweep chunk_size {size:>9,}: {got['seconds']:6.2f} s, {got['peak_rss_mib']} MiB")
        out.append(got)
    return out


def run_big(url: str, rows: int, chunk_size: int, bad: bool, seed: int) -> dict[str, Any]:
    csv = ensure_orders_csv(rows, bad=bad, seed=seed)
    load.checkpoint(url)
    got = child.measure(url, csv, mode="append", chunk_size=chunk_size, table="bench_big")
    _log(f"  {rows:,} rows append: {got['seconds']:.1f} s, peak RSS {got['peak_rss_mib']} MiB")
    copy_seconds = load.run_copy(url, csv, rows)[0]
    load.drop_table(url, load.RAW_TABLE)
    _log(f"  {rows:,} rows \\copy: {copy_seconds:.1f} s")
    return got | {
        "rows": rows,
        "chunk_size": chunk_size,
        "csv_mb": csv.stat().st_size / 1e6,
        "rows_per_s": rows / got["seconds"],
        "copy_seconds": copy_seconds,
        "copy_rows_per_s": rows / copy_seconds,
        "vs_copy": copy_seconds / got["seconds"],
        "rss_goal_mib": RSS_GOAL_MIB,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("psql") is None:
        _log("psql is not on PATH: the raw \\copy baseline needs it.")
        return 2
    bad = not args.no_bad_rows
    csv = ensure_orders_csv(args.rows, bad=bad, seed=args.seed)
    paths = load_paths(args.skip_peers)
    started = dt.datetime.now(dt.UTC)
    os.environ.pop("POLARETL_DATABASE_URL", None)  # the scratch database only
    payload: dict[str, Any] = {"benchmark": "suite", "started_utc": started.isoformat()}
    payload["command"] = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    with load.scratch_database(args.dsn, f"polaretl_bench_{os.getpid()}") as url:
        payload["machine"] = load.machine_facts(url)
        _log(f"load: {args.rows:,} rows, {', '.join(paths)}, {args.repeat} repeat(s)")
        results = load.run_suite(url, csv, args.rows, paths, args.repeat, args.chunk_size)
        payload["load"] = {
            "args": {
                "rows": args.rows,
                "repeat": args.repeat,
                "chunk_size": args.chunk_size,
                "bad_rows": bad,
                "seed": args.seed,
                "paths": paths,
            },
            "csv_mb": csv.stat().st_size / 1e6,
            "results": load.results_json(results),
            "table_markdown": load.table_markdown(results),
            "goals": load.goal_lines(results),
        }
        if not args.skip_sweep:
            _log(f"chunk-size sweep: {args.sweep}")
            payload["chunk_sweep"] = run_sweep(url, csv, args.rows, args.sweep)
        if not args.skip_10m:
            _log(f"{args.big_rows:,}-row run")
            payload["big"] = run_big(url, args.big_rows, args.chunk_size, bad, args.seed)
    if not args.skip_celery:
        _log(f"Celery scaling: {args.celery_rows:,} rows, 1 then 2 workers")
        payload["celery"] = celery_scaling.measure(
            args.celery_rows,
            8 if args.celery_rows >= 1_000_000 else 4,
            1 if args.quick else 2,
            dsn=args.dsn,
            redis_url=args.redis_url,
        )
    if not args.skip_objects:
        payload["objects"] = objects.measure(
            args.rows,
            0 if args.skip_10m else args.big_rows,
            1 if args.quick else 2,
            args.host_rows,
            skip_hosts=args.skip_hosts,
        )
    payload["wall_seconds"] = time.perf_counter() - t0
    payload["notes"] = _notes()
    print_summary(payload)
    write_outputs(payload, args.results_dir, started)
    return 0


def _notes() -> list[str]:
    """The profiling findings kept in ``benchmarks/NOTES.md`` (pasted under the tables)."""
    if not NOTES_FILE.exists():
        return []
    return NOTES_FILE.read_text().strip().splitlines()


def print_summary(payload: dict[str, Any]) -> None:
    m, ld = payload["machine"], payload["load"]
    a = ld["args"]
    print(
        f"\n{a['rows']:,} rows ({ld['csv_mb']:.1f} MB CSV"
        f"{', ~1% bad rows' if a['bad_rows'] else ''}), chunk_size {a['chunk_size']:,}, "
        f"median of {a['repeat']}; PostgreSQL {m['postgresql']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Python {m['python']}, polars {m['versions']['polars']}\n"
    )
    print(ld["table_markdown"])
    print()
    for line in ld["goals"]:
        print(line)
    if payload.get("chunk_sweep"):
        print("\nchunk-size sweep (append, a fresh process each):\n")
        print(report.sweep_markdown(payload["chunk_sweep"]))
    big = payload.get("big")
    if big:
        verdict = "met" if big["peak_rss_mib"] <= big["rss_goal_mib"] else "MISSED"
        print(
            f"\n{big['rows']:,} rows append: {big['seconds']:.1f} s, {big['rows_per_s']:,.0f} "
            f"rows/s ({big['vs_copy']:.2f}× \\copy), peak RSS {big['peak_rss_mib']:,.0f} MiB "
            f"(goal ≤ {big['rss_goal_mib']} MiB): {verdict}"
        )
    celery = payload.get("celery")
    if celery:
        print(f"\nCelery scaling, {celery['rows']:,} rows in {celery['files']} files:\n")
        print(celery_scaling.table_markdown(celery))
    if payload.get("objects"):
        print("\nObject storage (S3 served by moto on this machine):\n")
        print(objects.table_markdown(payload["objects"]))
    print(f"\nsuite wall time {payload['wall_seconds']:.0f} s")


def write_outputs(payload: dict[str, Any], results_dir: Path, started: dt.datetime) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    chart = report.write_chart(payload, stem.with_suffix(".png"))
    md = results_dir / "PERFORMANCE.md"
    md.write_text(report.performance_md(payload))
    for path in (json_path, chart, md):
        if path is not None:
            shown = path.relative_to(load.ROOT) if path.is_relative_to(load.ROOT) else path
            print(f"wrote {shown}")
