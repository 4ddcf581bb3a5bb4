"""Validation speed: `ContractValidator` on one chunk of the orders CSV, read as text.

``python -m benchmarks validate [--rows 1000000] [--repeat 5]`` reads the generated orders
CSV (`benchmarks.datagen`, ~1% of rows breaking the contract) with every column as text,
as `pe.CsvExtractor` does, and times on that one chunk, median of ``--repeat`` runs:

- ``cast``: the casts alone (text to the contract's dtypes, the failed-row reasons);
- ``split``: the whole split (casts, Pandera's checks, the quarantine frame);
- ``cast, ISO T..Z``: the casts with ``created_at`` written ``2026-01-02T03:04:05.123Z``
  (fractional seconds and a zone designator: the second ISO shape of the parse);
- ``cast, decimal``: the casts with ``amount`` as ``Annotated[pl.Decimal, 12, 2]``.

Prints one line per figure, wall and CPU seconds (CPU time, summed over Polars'
threads, is the steadier figure on a shared machine); nothing is written.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable
from typing import Annotated

import pandera.polars as pa
import polars as pl

from benchmarks.datagen import ensure_orders_csv
from contracts.orders import Order
from polaretl.extract.base import SOURCE_COLUMN, Chunk
from polaretl.validate.contract import _ROW, ContractValidator


class DecimalOrder(Order):
    amount: Annotated[pl.Decimal, 12, 2] = pa.Field(ge=0)


def _median(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds (all threads; steadier on a shared machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _cast(validator: ContractValidator, chunk: Chunk) -> Callable[[], object]:
    base = chunk.frame.with_columns(chunk.source_labels()).with_row_index(_ROW)
    extra: list[object] = []  # the columns the source lacks, the nested flags
    if len(inspect.signature(validator._cast).parameters) > 2:
        extra = [[], {}]
    return lambda: validator._cast(base, list(chunk.null_values), *extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks validate", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    path = ensure_orders_csv(args.rows, bad=True)
    frame = pl.read_csv(path, infer_schema=False)
    chunk = Chunk(frame, source=str(path), position={}, null_values=[""])
    iso = frame.with_columns(
        (pl.col("created_at").str.replace(" ", "T") + ".123Z").alias("created_at")
    )
    iso_chunk = Chunk(iso, source=str(path), position={}, null_values=[""])
    validator = ContractValidator(Order)
    split = validator.split(chunk)
    assert split.valid.height + split.quarantined.height == frame.height
    assert SOURCE_COLUMN in split.valid.columns
    figures = {
        "cast": _median(_cast(validator, chunk), args.repeat),
        "split": _median(lambda: validator.split(chunk), args.repeat),
        "cast, ISO T..Z": _median(_cast(validator, iso_chunk), args.repeat),
        "cast, decimal": _median(_cast(ContractValidator(DecimalOrder), chunk), args.repeat),
    }
    print(
        f"{args.rows:,} rows, median of {args.repeat}: valid {split.valid.height:,}, "
        f"quarantined {split.quarantined.height:,}"
    )
    print(f"  {'':<16} {'wall':>7} {'cpu':>7}")
    for name, (wall, cpu) in figures.items():
        print(f"  {name:<16} {wall:6.3f}s {cpu:6.3f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
