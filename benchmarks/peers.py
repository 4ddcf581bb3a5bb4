"""Peers on the same CSV and the same PostgreSQL: dlt, and pandas ``to_sql`` on a sample.

- ``dlt``: a dlt pipeline (postgres destination) fed the CSV as Arrow record batches read
  by pyarrow's streaming CSV reader with typed columns (dlt's fastest input), into a
  table with a unique index on ``order_id`` (the ``unique`` hint; dlt adds its
  ``_dlt_load_id`` / ``_dlt_id`` columns), ``write_disposition="append"``; timed around
  ``pipeline.run`` (extract, normalize, load). Loader file format ``parquet`` (loaded
  through ADBC): on 100k rows it took 1.1 s against 2.7-3.0 s for ``csv`` (COPY) and
  5.6 s for ``insert_values``. Needs the ``bench`` extra.
- ``pandas``: ``pandas.read_csv`` of the first `sample` rows and ``DataFrame.to_sql``
  (SQLAlchemy + psycopg 3, default ``method``) into the same table as raw ``\\copy``;
  rows/s is the sample's rows over its seconds (the whole file would take minutes).

Both return ``(seconds, rows measured)``; neither quarantines anything.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from benchmarks.datagen import DATA_DIR

DLT_DATASET = "bench_dlt"
DLT_TABLE = "orders"
PANDAS_TABLE = "bench_pandas"
PANDAS_SAMPLE = 100_000
_ARROW_TYPES = {
    "order_id": pa.int64(),
    "customer_id": pa.int64(),
    "amount": pa.float64(),
    "status": pa.string(),
    "created_at": pa.timestamp("us"),
    "note": pa.string(),
}


def available(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _batches(csv: Path) -> Iterator[pa.RecordBatch]:
    reader = pacsv.open_csv(
        csv,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=_ARROW_TYPES,
            null_values=[""],
            strings_can_be_null=True,
            timestamp_parsers=["%Y-%m-%d %H:%M:%S"],
        ),
    )
    yield from reader


def _dlt_credentials(url: str) -> dict[str, Any]:
    """dlt wants every field, a password included (ignored by a ``trust`` server)."""
    import psycopg  # noqa: PLC0415

    info = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "database": info.get("dbname", "postgres"),
        "username": info.get("user", "postgres"),
        "password": info.get("password") or "unused",
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
    }


def run_dlt(url: str, csv: Path, *, file_format: str = "parquet") -> tuple[float, int]:
    """Load the whole CSV with dlt; drop its dataset first so every run starts alike."""
    import dlt  # noqa: PLC0415 - an optional dependency (bench extra)

    from benchmarks.load import execute  # noqa: PLC0415 - avoids an import cycle

    execute(url, f"DROP SCHEMA IF EXISTS {DLT_DATASET} CASCADE")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    os.environ["DLT_DATA_DIR"] = str(DATA_DIR / "dlt")
    name = f"polaretl_bench_dlt_{os.getpid()}"

    @dlt.resource(
        name=DLT_TABLE,
        write_disposition="append",
        columns={"order_id": {"unique": True, "nullable": False}},
    )
    def orders() -> Iterator[pa.RecordBatch]:
        yield from _batches(csv)

    pipeline = dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(DATA_DIR / "dlt" / "pipelines"),
        destination=dlt.destinations.postgres(credentials=_dlt_credentials(url)),
        dataset_name=DLT_DATASET,
    )
    pipeline.drop()  # no local state from an earlier run
    t0 = time.perf_counter()
    pipeline.run(orders(), loader_file_format=file_format)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    rows = execute(url, f"SELECT count(*) FROM {DLT_DATASET}.{DLT_TABLE}")
    pipeline.drop()
    return seconds, int(rows[0][0])


def run_pandas(url: str, csv: Path, ddl: Any, sample: int = PANDAS_SAMPLE) -> tuple[float, int]:
    """``read_csv`` + ``to_sql`` of the first `sample` rows into a fresh `PANDAS_TABLE`."""
    import pandas as pd  # noqa: PLC0415 - an optional dependency (bench extra)
    import psycopg  # noqa: PLC0415
    import sqlalchemy  # noqa: PLC0415

    from benchmarks.load import drop_table, execute  # noqa: PLC0415

    drop_table(url, PANDAS_TABLE)
    execute(url, ddl)
    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))
    try:
        t0 = time.perf_counter()
        frame = pd.read_csv(csv, nrows=sample, parse_dates=["created_at"])
        frame.to_sql(PANDAS_TABLE, engine, if_exists="append", index=False)
        seconds = time.perf_counter() - t0
    finally:
        engine.dispose()
    rows = execute(url, f"SELECT count(*) FROM {PANDAS_TABLE}")
    drop_table(url, PANDAS_TABLE)
    return seconds, int(rows[0][0])
