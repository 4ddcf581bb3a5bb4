"""Celery scaling: the same partitioned 2M-row load on 1 worker, then on 2 workers.

    python -m benchmarks.celery_scaling [--rows 2000000] [--files 8] [--repeat 2]

Each worker has concurrency 1; the pipeline deals its slices (one per file) into 8
lanes. Prints seconds, rows/s and the 2-worker / 1-worker ratio, measured in one run
on a scratch database that is dropped at the end, through a queue of its own
(``POLARETL_QUEUE=polaretl_bench_<pid>``). Needs Redis (POLARETL_REDIS_URL or
redis://127.0.0.1:6379/14) and PostgreSQL (POLARETL_BENCH_PG_DSN or 127.0.0.1:5432).
The suite (``python -m benchmarks``) calls `measure` unless ``--skip-celery``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data" / "celery_ws"
#: Database 14 of the machine's Redis is the benchmarks' own; the queue name is per run.
REDIS_URL = "redis://127.0.0.1:6379/14"

CONNECTOR = """
import polaretl as pe
from contracts.orders import Order

bench_orders = pe.Pipeline(
    "bench_orders",
    extractor=pe.CsvExtractor("data/*.csv"),
    contract=Order,
    loader=pe.PostgresLoader("bench_orders", key="order_id", mode="append"),
    chunk_size=100_000,
    concurrency=8,
)
"""


def make_workspace(rows: int, files: int) -> Path:
    """A workspace with `files` CSVs of orders (cached while the sizes match)."""
    marker = DATA / f".rows-{rows}-files-{files}"
    if not marker.exists():
        shutil.rmtree(DATA, ignore_errors=True)
        (DATA / "data").mkdir(parents=True)
        (DATA / "connectors").mkdir()
        shutil.copytree(
            ROOT / "contracts", DATA / "contracts", ignore=shutil.ignore_patterns("__pycache__")
        )
        (DATA / "connectors" / "bench.py").write_text(CONNECTOR)
        rng = np.random.default_rng(42)
        per = rows // files
        for f in range(files):
            ids = np.arange(f * per, (f + 1) * per)
            frame = pl.DataFrame(
                {
                    "order_id": ids,
                    "customer_id": rng.integers(1, 50_000, per),
                    "amount": np.round(rng.random(per) * 500, 2),
                    "status": rng.choice(["new", "paid", "shipped"], per),
                    "created_at": (
                        np.datetime64("2026-01-01T00:00:00")
                        + rng.integers(0, 300 * 86400, per).astype("timedelta64[s]")
                    ).astype("datetime64[us]"),
                    "note": np.where(rng.random(per) < 0.3, "", "a note of some length"),
                }
            ).with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S"))
            frame.write_csv(DATA / "data" / f"orders_{f:02d}.csv")
        marker.touch()
    return DATA


def start_worker(workspace: Path, env: dict[str, str], n: int) -> subprocess.Popen[bytes]:
    log = workspace / f"worker-{n}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "polaretl.cli",
                "worker",
                "--project",
                str(workspace),
                "--concurrency",
                "1",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    time.sleep(4)  # the worker connects and imports the workspace
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def timed_run(workspace: Path, url: str) -> tuple[float, int]:
    import polaretl as pe

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_orders")
    start = time.perf_counter()
    run_id = pe.submit("bench_orders", project=workspace, database_url=url, full_refresh=True)
    result = pe.wait(run_id, database_url=url)
    seconds = time.perf_counter() - start
    if result.status != "succeeded":
        raise RuntimeError(f"run failed: {result.error}")
    return seconds, result.loaded


def measure(
    rows: int, files: int, repeat: int, *, dsn: str, redis_url: str, queue: str | None = None
) -> dict[str, Any]:
    """Seconds of the same run on 1 then 2 workers (a scratch database, a queue of its own
    so no other worker on the same Redis takes the tasks); the median of `repeat` each."""
    queue = queue or f"polaretl_bench_{os.getpid()}"
    name = f"polaretl_bench_celery_{os.getpid()}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(dsn, dbname=name)
    workspace = make_workspace(rows, files)
    saved = {k: os.environ.get(k) for k in ("POLARETL_REDIS_URL", "POLARETL_QUEUE")}
    os.environ.update({"POLARETL_REDIS_URL": redis_url, "POLARETL_QUEUE": queue})
    env = {**os.environ, "POLARETL_DATABASE_URL": url}
    workers: list[subprocess.Popen[bytes]] = []
    times: dict[int, list[float]] = {}
    try:
        for count in (1, 2):
            while len(workers) < count:
                workers.append(start_worker(workspace, env, len(workers)))
            times[count] = [timed_run(workspace, url)[0] for _ in range(repeat)]
    finally:
        for proc in workers:
            stop(proc)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _clear_queue(redis_url, queue)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {
        "rows": rows,
        "files": files,
        "repeat": repeat,
        "queue": queue,
        "seconds": {"1": times[1], "2": times[2]},
        "seconds_median": {"1": one, "2": two},
        "rows_per_s": {"1": rows / one, "2": rows / two},
        "speedup": one / two,
    }


def _clear_queue(redis_url: str, queue: str) -> None:
    """Delete this run's queue keys only (the Redis database may serve others)."""
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{queue}*"):
        client.delete(key)


def table_markdown(result: dict[str, Any]) -> str:
    one, two = result["seconds_median"]["1"], result["seconds_median"]["2"]
    rows = result["rows"]
    return "\n".join(
        [
            "| workers | seconds | rows/s | vs 1 worker |",
            "|---|---:|---:|---:|",
            f"| 1 | {one:.2f} | {rows / one:,.0f} | 1.00× |",
            f"| 2 | {two:.2f} | {rows / two:,.0f} | {one / two:.2f}× |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    dsn = os.environ.get("POLARETL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("POLARETL_REDIS_URL", REDIS_URL)
    result = measure(args.rows, args.files, args.repeat, dsn=dsn, redis_url=redis_url)
    print(
        f"Celery scaling, {args.rows:,} rows in {args.files} files, "
        f"median of {args.repeat}, {os.cpu_count()} cores"
    )
    print(table_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
