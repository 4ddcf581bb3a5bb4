"""Rows per second of the database extractors on 1M records.

- `PgDumpExtractor` on a `pg_dump` file in COPY format (plain and gzip), in ``--inserts``
  format, and in ``--rows-per-insert=100`` format (on fewer rows: it is the slow path);
- the COPY block parser alone: vectorised `copy_frame` against a per-line Python parser;
- `SqlExtractor` on a PostgreSQL table with the ADBC and the psycopg engines, in 1 and 4
  partitions, next to the raw fetch paths it was chosen from (ADBC record batches,
  ``COPY (query) TO STDOUT`` CSV + ``pl.read_csv``, psycopg server-side cursor +
  ``pl.DataFrame``).

Usage::

    python benchmarks/extract_db.py [--rows 1000000] [--repeat 3] [--dsn DSN]

It creates a scratch database on DSN (default ``POLARETL_TEST_PG_DSN`` or the machine's
PostgreSQL at 127.0.0.1:5432), fills ``orders`` on the server, dumps it with
``pg_dump``, measures (median of --repeat runs), prints a table and drops the database.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from polaretl.extract.pgdump import PgDumpExtractor  # noqa: E402
from polaretl.extract.pgdump.copy_text import copy_frame  # noqa: E402
from polaretl.extract.sql import SqlExtractor  # noqa: E402

COLUMNS = ["order_id", "customer_id", "amount", "status", "created_at", "note"]
FILL = """
CREATE TABLE {name} AS
SELECT g AS order_id, (g % 5000) + 1 AS customer_id,
       round((random() * 500)::numeric, 2) AS amount,
       (ARRAY['new', 'paid', 'shipped'])[1 + g % 3] AS status,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created_at,
       CASE WHEN g % 10 < 3 THEN NULL
            WHEN g % 100 = 3 THEN E'tab\\there, it''s "quoted"\\nand a \\\\ backslash'
            ELSE 'note ' || g END AS note
FROM generate_series(1, {rows}) g;
ALTER TABLE {name} ADD PRIMARY KEY (order_id);
ANALYZE {name};
"""


def pg_dump_binary() -> str:
    for path in ("/usr/bin/pg_dump", "/usr/lib/postgresql/15/bin/pg_dump"):
        if os.path.exists(path):
            return path
    found = shutil.which("pg_dump")
    if found is None:
        sys.exit("pg_dump not found: apt-get install postgresql-client")
    return found


def median_time(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), n


def read_dump(path: Path) -> Callable[[], int]:
    def run() -> int:
        ex = PgDumpExtractor(str(path), tables=["public.orders"])
        return sum(c.frame.height for s in ex.slices() for c in ex.read(s, None, 100_000))

    return run


def read_sql(url: str, engine: str, partitions: int) -> Callable[[], int]:
    def run() -> int:
        ex = SqlExtractor(
            url,
            table="public.orders",
            engine=engine,
            partition_on="order_id" if partitions > 1 else None,
            partitions=partitions,
        )
        return sum(c.frame.height for s in ex.slices() for c in ex.read(s, None, 100_000))

    return run


_ESC = re.compile(r"\\(.)", re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def python_copy_parse(region: bytes) -> pl.DataFrame:
    """The loop a vectorised parser replaces: split, unescape field by field."""
    rows = []
    for line in region.decode("utf-8").split("\n")[:-1]:
        rows.append(
            [
                None
                if f == "\\N"
                else (
                    _ESC.sub(lambda m: _SIMPLE.get(m.group(1), m.group(1)), f) if "\\" in f else f
                )
                for f in line.split("\t")
            ]
        )
    return pl.DataFrame(rows, schema={c: pl.String for c in COLUMNS}, orient="row")


def raw_adbc(url: str) -> Callable[[], int]:
    def run() -> int:
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM public.orders ORDER BY order_id")
            return sum(batch.num_rows for batch in cur.fetch_record_batch())

    return run


def raw_copy_csv(url: str) -> Callable[[], int]:
    def run() -> int:
        buf = io.BytesIO()
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            query = "COPY (SELECT * FROM public.orders ORDER BY order_id) TO STDOUT (FORMAT csv)"
            with cur.copy(query) as copy:
                for data in copy:
                    buf.write(data)
        frame = pl.read_csv(
            buf.getvalue(),
            has_header=False,
            new_columns=COLUMNS,
            schema_overrides={"created_at": pl.Datetime("us", "UTC")},
        )
        return frame.height

    return run


def raw_psycopg(url: str) -> Callable[[], int]:
    def run() -> int:
        n = 0
        with psycopg.connect(url) as conn, conn.cursor(name="bench") as cur:
            cur.itersize = 100_000
            cur.execute("SELECT * FROM public.orders ORDER BY order_id")
            while rows := cur.fetchmany(100_000):
                n += pl.DataFrame(rows, schema=COLUMNS, orient="row").height
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "POLARETL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    rows, repeat = args.rows, args.repeat
    rpi_rows = max(1, rows // 5)
    name = f"polaretl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(args.dsn, dbname=name)
    results: list[tuple[str, int, float]] = []
    copy_mb = 0.0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(FILL.format(name="public.orders", rows=rows))
            conn.execute(FILL.format(name="public.orders_small", rows=rpi_rows))
        tmp = Path(tempfile.mkdtemp(prefix="polaretl_bench_"))
        try:
            dump = pg_dump_binary()
            files = {}
            for label, table, extra in (
                ("copy", "public.orders", []),
                ("inserts", "public.orders", ["--inserts"]),
                ("rpi", "public.orders_small", ["--rows-per-insert=100"]),
            ):
                files[label] = tmp / f"{label}.sql"
                subprocess.run(
                    [dump, f"--dbname={url}", "-t", table, "--file", str(files[label]), *extra],
                    check=True,
                )
            copy_mb = files["copy"].stat().st_size / 1e6
            gz = tmp / "copy.sql.gz"
            gz.write_bytes(gzip.compress(files["copy"].read_bytes(), compresslevel=6))
            rpi = tmp / "rpi_renamed.sql"  # read orders_small under the name the reader asks for
            rpi.write_text(files["rpi"].read_text().replace("public.orders_small", "public.orders"))
            cases: list[tuple[str, Callable[[], int]]] = [
                ("pg_dump COPY format (plain)", read_dump(files["copy"])),
                ("pg_dump COPY format (gzip)", read_dump(gz)),
                ("pg_dump --inserts", read_dump(files["inserts"])),
                (f"pg_dump --rows-per-insert=100 ({rpi_rows} rows)", read_dump(rpi)),
            ]
            data = files["copy"].read_bytes()
            start = data.index(b"FROM stdin;\n") + len(b"FROM stdin;\n")
            region = data[start : data.index(b"\n\\.\n", start) + 1]
            cases += [
                (
                    "COPY block parse: vectorised copy_frame",
                    lambda: copy_frame(region, COLUMNS, "utf-8")[0].height,
                ),
                (
                    "COPY block parse: per-line Python loop",
                    lambda: python_copy_parse(region).height,
                ),
                ("SqlExtractor adbc, 1 slice", read_sql(url, "adbc", 1)),
                ("SqlExtractor adbc, 4 partitions", read_sql(url, "adbc", 4)),
                ("SqlExtractor psycopg, 1 slice", read_sql(url, "psycopg", 1)),
                ("raw: ADBC record batches", raw_adbc(url)),
                ("raw: COPY CSV + pl.read_csv", raw_copy_csv(url)),
                ("raw: psycopg named cursor + pl.DataFrame", raw_psycopg(url)),
            ]
            for label, fn in cases:
                seconds, n = median_time(fn, repeat)
                results.append((label, n, seconds))
                print(
                    f"{label:<48} {n:>9} rows {seconds:7.2f} s {n / seconds:>11,.0f} rows/s",
                    flush=True,
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        f"\nmedian of {repeat} runs on {os.cpu_count()} CPUs; the COPY-format dump is "
        f"{copy_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
