"""Object storage: reading from S3 against reading from disk, peak memory on a large
object, and one against two worker hosts that share no disk.

    python -m benchmarks.objects [--rows 1000000] [--big-rows 10000000] [--repeat 2]
                                 [--host-rows 1000000] [--skip-big] [--skip-hosts]

1. Read: the orders CSV (and the same rows as Parquet) read whole through the extractor
   (every chunk materialised, as a pipeline does), from a local file and from an S3
   object served by moto on this machine; each read in a fresh process, for its peak
   RSS (``VmHWM``); rows/s is the median over ``--repeat``.
2. Big: the same on a ``--big-rows`` CSV object (10M rows, ~690 MB): peak RSS of the
   reader, which streams ranged GETs and writes nothing to disk.
3. Hosts (root only; skipped, saying why, elsewhere): `tests.hosts.lab` namespaces
   with PostgreSQL, Redis, S3, two worker hosts and a client; 8 objects of
   ``--host-rows`` orders each; ``polaretl run --executor celery`` with one worker
   host, then two (a worker of concurrency 1 on each), append into an empty table.
   Seconds are the run's own (``finished_at - started_at``).

moto keeps objects in its own memory and serves them from Python: on this machine it is
slower than a cloud store's front end, so S3 figures here are a floor. Every process
(PostgreSQL, Redis, moto, the workers) shares the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 100_000


def child(kind: str, path: str) -> dict[str, Any]:
    """Read `path` whole in this process; seconds, rows and peak RSS."""
    import polaretl as pe
    from benchmarks.child import vm_hwm_mib

    ext = pe.CsvExtractor(path) if kind == "csv" else pe.ParquetExtractor(path)
    t0 = time.perf_counter()
    rows = 0
    for slice_ in ext.slices():
        for chunk in ext.read(slice_, None, CHUNK):
            rows += chunk.frame.height + (chunk.rejects.height if chunk.rejects is not None else 0)
    return {"seconds": time.perf_counter() - t0, "rows": rows, "peak_rss_mib": vm_hwm_mib()}


def measure_read(kind: str, path: str, env: dict[str, str], repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.objects", "--child", kind, path],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"reading {path} failed: {done.stderr[-2000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "path": path,
        "rows": runs[0]["rows"],
        "seconds": seconds,
        "rows_per_s": runs[0]["rows"] / seconds,
        "peak_rss_mib": max(r["peak_rss_mib"] or 0 for r in runs),
    }


def reads(rows: int, big_rows: int, repeat: int) -> dict[str, Any]:
    """Parts 1 and 2 against one moto server on 127.0.0.1."""
    from benchmarks.datagen import ensure_orders_csv
    from tests.s3server import MotoS3

    csv = ensure_orders_csv(rows)
    parquet = csv.with_suffix(".parquet")
    if not parquet.exists():
        pl.read_csv(csv, infer_schema=False).write_parquet(parquet, row_group_size=CHUNK)
    server = MotoS3().start()
    out: dict[str, Any] = {"rows": rows, "repeat": repeat}
    try:
        client = server.client()
        client.create_bucket(Bucket="bench")
        env = server.env()
        for kind, local in (("csv", csv), ("parquet", parquet)):
            client.upload_file(str(local), "bench", local.name)
            url = f"s3://bench/{local.name}"
            out[kind] = {
                "local": measure_read(kind, str(local), {}, repeat),
                "s3": measure_read(kind, url, env, repeat),
                "mb": local.stat().st_size / 1e6,
            }
            ratio = out[kind]["s3"]["rows_per_s"] / out[kind]["local"]["rows_per_s"]
            out[kind]["s3_vs_local"] = ratio
            _log(f"  {kind}: local {_fmt(out[kind]['local'])}; s3 {_fmt(out[kind]['s3'])}")
        if big_rows:
            big = ensure_orders_csv(big_rows)
            client.upload_file(str(big), "bench", big.name)
            out["big"] = {
                "rows": big_rows,
                "mb": big.stat().st_size / 1e6,
                "local": measure_read("csv", str(big), {}, 1),
                "s3": measure_read("csv", f"s3://bench/{big.name}", env, 1),
            }
            _log(f"  big csv: local {_fmt(out['big']['local'])}; s3 {_fmt(out['big']['s3'])}")
    finally:
        server.stop()
    return out


CONNECTOR = """
import os

import polaretl as pe
from contracts.orders import Order

bench_orders = pe.Pipeline(
    "bench_orders",
    extractor=pe.CsvExtractor(os.environ["BENCH_OBJECTS"]),
    contract=Order,
    loader=pe.PostgresLoader("bench_orders", key="order_id", mode="append"),
    chunk_size=100_000,
    concurrency=8,
)
"""


def hosts(rows_per_object: int, objects: int = 8) -> dict[str, Any]:
    """Part 3: one worker host, then two, over `objects` S3 objects."""
    import psycopg

    from benchmarks.celery_scaling import make_workspace
    from tests.hosts.lab import Lab, unavailable

    why = unavailable()
    if why:
        _log(f"  skipped: {why}")
        return {"skipped": why}
    source = make_workspace(rows_per_object * objects, objects)
    template = source.parent / "hosts_ws"
    (template / "connectors").mkdir(parents=True, exist_ok=True)
    (template / "connectors" / "bench.py").write_text(CONNECTOR)
    if not (template / "contracts").exists():
        import shutil

        shutil.copytree(source / "contracts", template / "contracts")
    lab = Lab(["pg", "redis", "s3", "w1", "w2", "client"])
    try:
        database, broker, s3 = lab.postgres("pg"), lab.redis("redis"), lab.s3("s3")
        client = s3.client()
        client.create_bucket(Bucket="bench")
        for path in sorted((source / "data").glob("*.csv")):
            client.upload_file(str(path), "bench", f"orders/{path.name}")
        lab.env = {
            "POLARETL_DATABASE_URL": database,
            "POLARETL_REDIS_URL": broker,
            "POLARETL_QUEUE": "bench-hosts",
            "BENCH_OBJECTS": "s3://bench/orders/*.csv",
            **s3.env(),
        }
        for host in ("w1", "w2", "client"):
            lab.host_workspace(host, template)
        out: dict[str, Any] = {"rows": rows_per_object * objects, "objects": objects}
        for count in (1, 2):
            host = f"w{count}"
            ws = lab.workspaces[host]
            lab.polaretl(
                host, "worker", "--project", str(ws), "--concurrency", "1", log=f"bench-{host}"
            )
            deadline = time.monotonic() + 120
            while b" ready." not in (lab.folder / f"bench-{host}.log").read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(lab.log(f"bench-{host}")[-2000:])
                time.sleep(0.3)
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute("DROP TABLE IF EXISTS bench_orders")
            proc = lab.polaretl(
                "client", "run", "bench_orders", "--executor", "celery", "--full-refresh",
                "--json", "--project", str(lab.workspaces["client"]), log=f"bench-run-{count}",
            )  # fmt: skip
            if proc.wait(3600):
                raise RuntimeError(lab.log(f"bench-run-{count}")[-3000:])
            text = lab.log(f"bench-run-{count}")
            run = json.loads(text[text.index("{") :])
            with psycopg.connect(database) as conn:
                row = conn.execute(
                    "SELECT extract(epoch FROM finished_at - started_at), loaded "
                    "FROM polaretl.runs WHERE run_id = %s",
                    (run["run_id"],),
                ).fetchone()
            assert row is not None
            seconds, loaded = float(row[0]), int(row[1])
            out[str(count)] = {
                "seconds": seconds,
                "loaded": loaded,
                "rows_per_s": out["rows"] / seconds,
            }
            _log(f"  {count} worker host(s): {seconds:.1f} s, {out['rows'] / seconds:,.0f} rows/s")
        out["speedup"] = out["1"]["seconds"] / out["2"]["seconds"]
        return out
    finally:
        lab.close()


def _fmt(r: dict[str, Any]) -> str:
    return f"{r['rows_per_s']:,.0f} rows/s, peak RSS {r['peak_rss_mib']:,.0f} MiB"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table_markdown(result: dict[str, Any]) -> str:
    """The read table and, when measured, the hosts table."""
    lines = [
        "| source | MB | local rows/s | S3 rows/s | S3 / local | peak RSS local / S3 (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    reads_ = result.get("reads", {})
    for kind in ("csv", "parquet", "big"):
        r = reads_.get(kind)
        if not r:
            continue
        name = (
            f"{kind} ({r.get('rows', reads_.get('rows')):,} rows)"
            if kind != "big"
            else (f"big csv ({r['rows']:,} rows)")
        )
        lo, s3 = r["local"], r["s3"]
        lines.append(
            f"| {name} | {r['mb']:.0f} | {lo['rows_per_s']:,.0f} | {s3['rows_per_s']:,.0f} | "
            f"{s3['rows_per_s'] / lo['rows_per_s']:.2f}× | "
            f"{lo['peak_rss_mib']:,.0f} / {s3['peak_rss_mib']:,.0f} |"
        )
    h = result.get("hosts")
    if h and "speedup" in h:
        lines += [
            "",
            f"| worker hosts ({h['rows']:,} rows in {h['objects']} S3 objects) | seconds | "
            "rows/s | vs 1 host |",
            "|---|---:|---:|---:|",
            f"| 1 | {h['1']['seconds']:.1f} | {h['1']['rows_per_s']:,.0f} | 1.00× |",
            f"| 2 | {h['2']['seconds']:.1f} | {h['2']['rows_per_s']:,.0f} | {h['speedup']:.2f}× |",
        ]
    elif h:
        lines += ["", f"worker hosts: skipped ({h['skipped']})"]
    return "\n".join(lines)


def measure(
    rows: int,
    big_rows: int,
    repeat: int,
    host_rows: int,
    *,
    skip_hosts: bool,
    skip_reads: bool = False,
) -> dict[str, Any]:
    """Every part; what the suite stores under ``objects``."""
    out: dict[str, Any] = {}
    if not skip_reads:
        _log(f"object storage: read {rows:,} rows (and {big_rows:,} for RSS), S3 vs disk")
        out["reads"] = reads(rows, big_rows, repeat)
    if not skip_hosts:
        _log(f"object storage: 1 vs 2 worker hosts, 8 objects of {host_rows:,} rows")
        out["hosts"] = hosts(host_rows)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.objects", description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--host-rows", type=int, default=1_000_000, help="rows per object")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-hosts", action="store_true")
    parser.add_argument("--skip-reads", action="store_true", help="only 1 vs 2 hosts")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    result = measure(
        args.rows,
        0 if args.skip_big else args.big_rows,
        args.repeat,
        args.host_rows,
        skip_hosts=args.skip_hosts,
        skip_reads=args.skip_reads,
    )
    print(json.dumps(result, indent=2))
    print(table_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
