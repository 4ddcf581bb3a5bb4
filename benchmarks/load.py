"""The load benchmark: polaretl against a raw ``psql \\copy`` of the same CSV, in one run.

On one generated orders CSV (`benchmarks.datagen`) and a scratch database it creates and
drops (``polaretl_bench_<pid>``), each repeat measures, in this order:

1. ``copy``: ``psql \\copy`` of the CSV into a table with the columns and types polaretl
   creates from ``contracts/orders.py`` (bigint, bigint, double precision, text,
   timestamp, text, NOT NULL where the contract says so, PRIMARY KEY order_id); the psql
   subprocess is timed, start to exit;
2. ``append``: a `pe.Pipeline` (CsvExtractor -> contract Order -> PostgresLoader append)
   into a table that does not exist yet (polaretl creates it);
3. ``upsert-first``: the same with ``mode="upsert"``, first load into a new table;
4. ``upsert-rerun``: that pipeline again on the same data (``full_refresh=True``), every
   row unchanged;
5. ``no-checks``: append with the contract's checks off (`benchmarks.nocheck.CastOnly`:
   columns are still cast to the contract's types, which the typed target needs, but
   Pandera does not run): the cost of validation is append's time minus this one's;
6. ``dlt``: dlt loading the same CSV into a table with a unique index (`benchmarks.peers`);
7. ``pandas``: ``read_csv`` + ``to_sql`` of a 100k-row sample, scaled to rows/s.

A polaretl run with no contract at all (`PassThrough`) is not measured: the loader needs
the contract's types to create the target, and untyped text would not load into it.
Before the first measurement one small untimed polaretl run (1,000 rows, append
and upsert) warms imports and Pandera's lazily registered backends (~0.6 s, once per
process), which a long-lived process pays once. Each polaretl run is timed around
``Pipeline.run()``; its per-stage seconds come from ``RunResult.timings`` (extract and
validate run in a background thread while the previous chunk loads, so the stages can
add up to more than ``total``). A ``CHECKPOINT`` runs before every measurement so one
path's dirty pages are not flushed on the next one's time. Paths are interleaved within
each repeat, so a noisy neighbour hits them alike. Medians over ``--repeat`` runs are
reported, each column on its own; rows/s counts the CSV's data rows for every path (with
``--bad-rows`` polaretl quarantines ~1% of them, ``\\copy`` loads them all); ``vs \\copy``
is the path's rows/s over the raw ``\\copy`` rows/s measured in the same invocation
(above 1 = faster). The JSON also keeps every repeat, the client's CPU seconds (this
process for polaretl, psql for ``\\copy``; the server's are not counted) and the 1-minute
load average after each run, to judge how noisy the machine was.

Output: a markdown table on stdout (stable format, to paste into the README) and
``benchmarks/results/load-<UTC timestamp>.json`` with every measurement and the machine.

Usage: ``python -m benchmarks load [--rows N] [--repeat N] [--chunk-size N] [--bad-rows]
[--paths copy,append,upsert-first,upsert-rerun,no-checks,dlt,pandas] [--dsn URL]``
(``python -m benchmarks`` with no sub-command runs the whole suite, `benchmarks.suite`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.datagen import DEFAULT_ROWS, DEFAULT_SEED, ensure_orders_csv

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DSN_ENV = "POLARETL_BENCH_PG_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
STAGES = ("extract", "validate", "transform", "load", "record", "total")
PATHS: dict[str, str] = {
    "copy": "psql `\\copy` (raw)",
    "append": "polaretl append",
    "upsert-first": "polaretl upsert, first load",
    "upsert-rerun": "polaretl upsert, unchanged re-run",
    "no-checks": "polaretl append, contract checks off",
    "dlt": "dlt, parquet via ADBC",
    "dlt-csv": "dlt, csv via COPY",
    "pandas": "pandas `to_sql` (100k sample)",
}
#: Paths that need the ``bench`` extra (and run only when it is installed).
PEERS = ("dlt", "dlt-csv", "pandas")
#: The goals, as rows/s relative to raw \copy (end to end, contract on).
GOALS: dict[str, float] = {"append": 1.0, "upsert-first": 0.6, "upsert-rerun": 0.6}
DLT_GOAL = 4.0  # polaretl append rows/s over dlt's
VALIDATE_GOAL = 0.20  # the validate stage's share of append's wall time
RAW_TABLE = "bench_raw"
SERVER_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "wal_level",
    "synchronous_commit",
    "fsync",
    "work_mem",
    "maintenance_work_mem",
)


@dataclass
class Measurement:
    """Every repeat of one path."""

    path: str
    rows: int = 0  # rows each run handles (a sample for pandas)
    seconds: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    loaded: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)  # this process, or psql
    load_average: list[float] = field(default_factory=list)  # 1-min, after the run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.median

    def stage_medians(self) -> dict[str, float]:
        if not self.stages:
            return {}
        return {s: statistics.median(t.get(s, 0.0) for t in self.stages) for s in STAGES}


# -- the scratch database ------------------------------------------------------------------


def with_dbname(dsn: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


@contextmanager
def scratch_database(dsn: str, name: str) -> Iterator[str]:
    """Create database `name` on the server of `dsn`; drop it afterwards, even on failure
    (Ctrl-C and SIGTERM included)."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        signal.signal(signal.SIGTERM, previous)


def execute(url: str, statement: sql.Composable | str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def drop_table(url: str, table: str) -> None:
    execute(url, sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def checkpoint(url: str) -> None:
    """Flush dirty pages now, so the next measurement does not pay for the previous one."""
    execute(url, "CHECKPOINT")


def count_rows(url: str, table: str) -> int:
    rows = execute(url, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return int(rows[0][0])


# -- the paths -----------------------------------------------------------------------------


def order_contract() -> Any:
    """``contracts.orders.Order`` (the repository root goes on sys.path, as for `polaretl run`)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("contracts.orders").Order


def raw_table_ddl(table: str) -> sql.Composed:
    """The table polaretl would create from the contract, without its lineage columns."""
    from polaretl.load.ddl import pg_type
    from polaretl.validate.contract import contract_fields

    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL(pg_type(f.dtype)),
            sql.SQL("" if f.nullable and f.name != "order_id" else " NOT NULL"),
        )
        for f in contract_fields(order_contract())
    ]
    columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier("order_id")))
    return sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(columns)
    )


def run_copy(url: str, csv: Path, rows: int) -> tuple[float, dict[str, float], int, int]:
    drop_table(url, RAW_TABLE)
    execute(url, raw_table_ddl(RAW_TABLE))
    checkpoint(url)
    quoted = str(csv).replace("'", "''")
    command = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        f"\\copy {RAW_TABLE} FROM '{quoted}' WITH (FORMAT csv, HEADER true)",
    ]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"psql \\copy failed ({done.returncode}): {done.stderr.strip()}")
    loaded = count_rows(url, RAW_TABLE)
    if loaded != rows:
        raise RuntimeError(f"psql \\copy loaded {loaded} rows, expected {rows}")
    return seconds, {}, loaded, 0


def make_pipeline(csv: Path, table: str, mode: str, chunk_size: int, *, checks: bool = True) -> Any:
    import polaretl as pe
    from benchmarks.nocheck import CastOnly

    contract = order_contract()
    return pe.Pipeline(
        f"bench_{table}",
        extractor=pe.CsvExtractor(str(csv)),
        contract=contract if checks else None,
        validator=None if checks else CastOnly(contract),
        loader=pe.PostgresLoader(table, key="order_id", mode=mode),
        chunk_size=chunk_size,
    )


def run_polaretl(
    url: str,
    csv: Path,
    rows: int,
    *,
    table: str,
    mode: str,
    chunk_size: int,
    fresh: bool,
    checks: bool = True,
) -> tuple[float, dict[str, float], int, int]:
    if fresh:  # a first load: no table and no quarantine history for this pipeline
        drop_table(url, table)
        execute(
            url,
            sql.SQL(
                "DO $$ BEGIN IF to_regclass('polaretl.quarantine') IS NOT NULL THEN "
                "DELETE FROM polaretl.quarantine WHERE pipeline = {}; END IF; END $$"
            ).format(sql.Literal(f"bench_{table}")),
        )
    checkpoint(url)
    pipeline = make_pipeline(csv, table, mode, chunk_size, checks=checks)
    t0 = time.perf_counter()
    result = pipeline.run(database_url=url, full_refresh=True)
    seconds = time.perf_counter() - t0
    if not result.succeeded or result.processed != rows:
        raise RuntimeError(f"polaretl {mode} into {table}: {result.summary()}")
    stages = {s: float(result.timings.get(s, 0.0)) for s in STAGES}
    return seconds, stages, result.loaded, result.rejected


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def warm_up(url: str, chunk_size: int, paths: list[str]) -> None:
    """One small untimed run per kind, so imports and Pandera's lazily registered backends
    (about 0.6 s, once per process; dlt's first run more) are not charged to the first
    measured run."""
    small = ensure_orders_csv(1_000)
    for mode in ("append", "upsert"):
        pipeline = make_pipeline(small, "bench_warm_up", mode, chunk_size)
        pipeline.run(database_url=url, full_refresh=True)
        drop_table(url, "bench_warm_up")
    if "dlt" in paths or "dlt-csv" in paths:
        from benchmarks.peers import run_dlt

        run_dlt(url, small)
        run_dlt(url, small, file_format="csv")
    if "pandas" in paths:
        from benchmarks.peers import PANDAS_TABLE, run_pandas

        run_pandas(url, small, raw_table_ddl(PANDAS_TABLE), 1_000)


def _run_peer(
    url: str, csv: Path, path: str, rows: int
) -> tuple[float, dict[str, float], int, int]:
    from benchmarks.peers import PANDAS_TABLE, run_dlt, run_pandas

    checkpoint(url)
    if path in ("dlt", "dlt-csv"):
        seconds, loaded = run_dlt(url, csv, file_format="csv" if path == "dlt-csv" else "parquet")
    else:
        seconds, loaded = run_pandas(url, csv, raw_table_ddl(PANDAS_TABLE), rows)
    if loaded != rows:
        raise RuntimeError(f"{path} loaded {loaded} rows, expected {rows}")
    return seconds, {}, loaded, 0


def run_suite(
    url: str, csv: Path, rows: int, paths: list[str], repeat: int, chunk_size: int
) -> dict[str, Measurement]:
    from benchmarks.peers import PANDAS_SAMPLE

    sample = min(rows, PANDAS_SAMPLE)
    out = {p: Measurement(p, rows=sample if p == "pandas" else rows) for p in paths}
    label = csv
    try:  # a relative path, as connectors give (it is each loaded row's source label)
        label = csv.relative_to(Path.cwd())
    except ValueError:
        pass
    runners: dict[str, Callable[[], tuple[float, dict[str, float], int, int]]] = {
        "copy": lambda: run_copy(url, csv, rows),
        "append": lambda: run_polaretl(
            url, label, rows, table="bench_append", mode="append", chunk_size=chunk_size, fresh=True
        ),
        "upsert-first": lambda: run_polaretl(
            url, label, rows, table="bench_upsert", mode="upsert", chunk_size=chunk_size, fresh=True
        ),
        "upsert-rerun": lambda: run_polaretl(
            url,
            label,
            rows,
            table="bench_upsert",
            mode="upsert",
            chunk_size=chunk_size,
            fresh=False,
        ),
        "no-checks": lambda: run_polaretl(
            url,
            label,
            rows,
            table="bench_nocheck",
            mode="append",
            chunk_size=chunk_size,
            fresh=True,
            checks=False,
        ),
        "dlt": lambda: _run_peer(url, csv, "dlt", rows),
        "dlt-csv": lambda: _run_peer(url, csv, "dlt-csv", rows),
        "pandas": lambda: _run_peer(url, csv, "pandas", sample),
    }
    if any(p != "copy" for p in paths):
        warm_up(url, chunk_size, paths)
    for i in range(repeat):
        if "upsert-rerun" in paths and "upsert-first" not in paths:
            runners["upsert-first"]()  # the re-run needs the rows in place; not measured
        for path in paths:
            who = resource.RUSAGE_CHILDREN if path == "copy" else resource.RUSAGE_SELF
            if path in ("append", "no-checks"):
                drop_table(url, "bench_upsert")  # the upsert paths' table, not needed now
            before = _cpu_seconds(who)
            seconds, stages, loaded, rejected = runners[path]()
            m = out[path]
            m.client_cpu.append(_cpu_seconds(who) - before)
            m.load_average.append(os.getloadavg()[0])
            m.seconds.append(seconds)
            if stages:
                m.stages.append(stages)
            m.loaded.append(loaded)
            m.rejected.append(rejected)
            print(
                f"  repeat {i + 1}/{repeat} {path:<13} {seconds:7.2f} s  loaded {loaded:,}",
                file=sys.stderr,
                flush=True,
            )
    return out


# -- reporting -----------------------------------------------------------------------------


def vs_copy(results: dict[str, Measurement], path: str) -> float | None:
    """`path`'s rows/s over raw ``\\copy``'s, measured in the same invocation."""
    if "copy" not in results or path not in results:
        return None
    return results[path].rows_per_s / results["copy"].rows_per_s


def table_markdown(results: dict[str, Measurement]) -> str:
    """The results as a markdown table (a stable format: the README quotes it)."""
    lines = [
        "| path | rows | seconds | rows/s | vs \\copy | " + " | ".join(STAGES) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(STAGES),
    ]
    for path, m in results.items():
        ratio = vs_copy(results, path)
        stages = m.stage_medians()
        cells = [f"{stages[s]:.2f}" if stages else "–" for s in STAGES]
        lines.append(
            f"| {PATHS[path]} | {m.rows:,} | {m.median:.2f} | {m.rows_per_s:,.0f} | "
            + (f"{ratio:.2f}×" if ratio is not None else "n/a")
            + " | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def goal_lines(results: dict[str, Measurement]) -> list[str]:
    """Each goal, its measured figure and met / MISSED."""
    out = []
    for path, goal in GOALS.items():
        ratio = vs_copy(results, path)
        if ratio is not None:
            verdict = "met" if ratio >= goal else "MISSED"
            out.append(f"goal {path}: {ratio:.2f}× of \\copy (goal ≥ {goal:.1f}×): {verdict}")
    for dlt in ("dlt", "dlt-csv"):
        if "append" in results and dlt in results:
            ratio = results["append"].rows_per_s / results[dlt].rows_per_s
            verdict = "met" if ratio >= DLT_GOAL else "MISSED"
            out.append(
                f"goal append vs {PATHS[dlt]}: {ratio:.2f}× (goal ≥ {DLT_GOAL:.1f}×): {verdict}"
            )
    if "append" in results and results["append"].stages:
        stages = results["append"].stage_medians()
        share = stages["validate"] / stages["total"]
        verdict = "met" if share <= VALIDATE_GOAL else "MISSED"
        line = (
            f"goal validation share of append: validate stage {share:.0%} of the run's wall "
            f"time (goal ≤ {VALIDATE_GOAL:.0%}): {verdict}"
        )
        if "no-checks" in results:
            cost = 1 - results["no-checks"].median / results["append"].median
            line += f"; wall time saved with the checks off: {cost:.0%}"
        out.append(line)
    return out


def results_json(results: dict[str, Measurement]) -> list[dict[str, Any]]:
    return [
        {
            "path": m.path,
            "label": PATHS[m.path],
            "rows": m.rows,
            "seconds_median": m.median,
            "rows_per_s": m.rows_per_s,
            "vs_copy": vs_copy(results, m.path),
            "goal_vs_copy": GOALS.get(m.path),
            "stages_median": m.stage_medians(),
            "seconds": m.seconds,
            "stages": m.stages,
            "loaded": m.loaded,
            "rejected": m.rejected,
            "client_cpu_seconds": m.client_cpu,
            "load_average_1min": m.load_average,
        }
        for m in results.values()
    ]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def machine_facts(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting || coalesce(' ' || unit, '') FROM pg_settings "
                "WHERE name = ANY(%s)",
                (list(SERVER_SETTINGS),),
            ).fetchall()
        )
    psql = shutil.which("psql")
    psql_version = (
        subprocess.run([psql, "--version"], capture_output=True, text=True).stdout.strip()
        if psql
        else None
    )
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            d: _version(d)
            for d in (
                "polaretl",
                "polars",
                "pyarrow",
                "psycopg",
                "pandera",
                "pgpq",
                "numpy",
                "dlt",
                "pandas",
                "sqlalchemy",
                "celery",
                "matplotlib",
            )
        },
        "postgresql": server[0] if server else None,
        "postgresql_settings": settings,
        "psql": psql_version,
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB). psql's is left out: a
    forked child's peak counts the parent's pages it shared before exec."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- entry point ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks load",
        description="Load benchmark: polaretl against raw psql \\copy of the same CSV.",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="CSV data rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median counts")
    parser.add_argument("--chunk-size", type=int, default=100_000, help="polaretl chunk_size")
    parser.add_argument(
        "--bad-rows", action="store_true", help="~1%% of rows break the contract (quarantined)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--paths",
        default=",".join(p for p in PATHS if p not in PEERS),
        help=f"comma-separated subset of {', '.join(PATHS)}",
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get(DSN_ENV, DEFAULT_DSN),
        help=f"a server to create the scratch database on (else ${DSN_ENV}, else {DEFAULT_DSN})",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-json", action="store_true", help="do not write the JSON result")
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in args.paths if p not in PATHS]
    if unknown or not args.paths:
        parser.error(f"--paths: unknown {unknown}; choose from {', '.join(PATHS)}")
    if args.repeat < 1 or args.rows < 1 or args.chunk_size < 1:
        parser.error("--repeat, --rows and --chunk-size must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("psql") is None and "copy" in args.paths:
        print("psql is not on PATH: the raw \\copy baseline needs it.", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    csv = ensure_orders_csv(args.rows, bad=args.bad_rows, seed=args.seed)
    print(
        f"CSV {csv} ({args.rows:,} rows, {csv.stat().st_size / 1e6:.1f} MB, "
        f"ready in {time.perf_counter() - t0:.2f} s)",
        file=sys.stderr,
    )
    started = dt.datetime.now(dt.UTC)
    dbname = f"polaretl_bench_{os.getpid()}"
    os.environ.pop("POLARETL_DATABASE_URL", None)  # the scratch database only
    with scratch_database(args.dsn, dbname) as url:
        machine = machine_facts(url)
        results = run_suite(url, csv, args.rows, args.paths, args.repeat, args.chunk_size)
    rss = peak_rss_mib()
    table = table_markdown(results)
    goals = goal_lines(results)
    print(
        f"\n{args.rows:,} rows ({csv.stat().st_size / 1e6:.1f} MB CSV"
        f"{', ~1% bad rows' if args.bad_rows else ''}), chunk_size {args.chunk_size:,}, "
        f"median of {args.repeat}; PostgreSQL {machine['postgresql']}, "
        f"{machine['cores']} cores, Python {machine['python']}, "
        f"polars {machine['versions']['polars']}\n"
    )
    print(table)
    print(f"\npeak RSS of this process: {rss:,.0f} MiB")
    loads = [x for m in results.values() for x in m.load_average]
    print(f"1-min load average after each run: {min(loads):.1f} to {max(loads):.1f}")
    for line in goals:
        print(line)
    if not args.no_json:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        args.results_dir.mkdir(parents=True, exist_ok=True)
        out = args.results_dir / f"load-{stamp}.json"
        payload = {
            "benchmark": "load",
            "started_utc": started.isoformat(),
            "args": {
                "rows": args.rows,
                "repeat": args.repeat,
                "chunk_size": args.chunk_size,
                "bad_rows": args.bad_rows,
                "seed": args.seed,
                "paths": args.paths,
            },
            "csv": {"path": str(csv), "bytes": csv.stat().st_size},
            "machine": machine,
            "peak_rss_mib": rss,
            "results": results_json(results),
            "table_markdown": table,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
