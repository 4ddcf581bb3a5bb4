"""Generate an orders-like CSV for the benchmarks, vectorised (numpy + Polars, no row loop).

Columns, in the shape `contracts/orders.py` expects:

- ``order_id``: unique int, ascending with random gaps (as an export of a table would be);
- ``customer_id``: int in 1..200,000;
- ``amount``: float written with 2 decimals;
- ``status``: ``new`` / ``paid`` / ``shipped``;
- ``created_at``: ``YYYY-MM-DD HH:MM:SS``, ascending through 2026;
- ``note``: free text, empty (null) in 30% of rows; some notes hold commas and quotes, so
  the CSV has quoted fields.

With ``bad=True`` about 1% of rows break the contract but not the column types (a negative
amount, an unknown status, or customer_id 0), so a raw ``\\copy`` of the same file still
loads every row while polaretl quarantines those: the comparison stays row for row.

Files are cached under ``benchmarks/.data/`` (git-ignored) and generated only when missing;
the file name carries the row count, the bad-row flag, the seed and a format version.

Usage: ``python -m benchmarks.datagen --rows 1000000 [--bad-rows] [--seed 42]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

DATA_DIR = Path(__file__).resolve().parent / ".data"
FORMAT_VERSION = 1  # bump when the generated content changes, so caches are not reused
DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 42
BAD_FRACTION = 0.01
NULL_NOTE_FRACTION = 0.30

STATUSES = ["new", "paid", "shipped"]
NOTES = [
    "leave at the door",
    "gift wrap, no invoice",
    "call before delivery",
    'customer says "urgent"',
    "second attempt",
    "fragile",
    "deliver after 6pm, ring twice",
    "pickup at store",
    "address checked by support",
    "replacement for order returned last week",
]
_EPOCH = 1_767_225_600  # 2026-01-01 00:00:00 UTC, in seconds
_YEAR_SECONDS = 365 * 86_400


def csv_path(rows: int, *, bad: bool = False, seed: int = DEFAULT_SEED) -> Path:
    """Where the cached CSV for these parameters lives (it may not exist yet)."""
    tag = "-bad" if bad else ""
    return DATA_DIR / f"orders-{rows}{tag}-s{seed}-v{FORMAT_VERSION}.csv"


def generate(rows: int, *, bad: bool = False, seed: int = DEFAULT_SEED) -> pl.DataFrame:
    """The orders frame, typed (the CSV writer renders it as text)."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)
    order_id = 1_000_000 + np.cumsum(rng.integers(1, 4, rows, dtype=np.int64))
    customer_id = rng.integers(1, 200_001, rows, dtype=np.int64)
    amount = np.round(rng.gamma(2.0, 40.0, rows) + 0.5, 2)
    status_idx = rng.choice(len(STATUSES), rows, p=[0.2, 0.5, 0.3]).astype(np.uint32)
    seconds = np.sort(rng.integers(0, _YEAR_SECONDS, rows, dtype=np.int64))
    note_idx = rng.integers(0, len(NOTES), rows).astype(np.uint32)
    note_null = rng.random(rows) < NULL_NOTE_FRACTION
    if bad:
        broken = np.flatnonzero(rng.random(rows) < BAD_FRACTION)
        kind = rng.integers(0, 3, broken.size)
        amount[broken[kind == 0]] *= -1.0  # amount >= 0 fails
        status_idx[broken[kind == 1]] = len(STATUSES)  # "cancelled": isin fails
        customer_id[broken[kind == 2]] = 0  # customer_id > 0 fails
    statuses = pl.Series([*STATUSES, "cancelled"], dtype=pl.String)
    return pl.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "status": statuses.gather(status_idx),
            "created_at": pl.from_epoch(pl.Series(_EPOCH + seconds), time_unit="s").cast(
                pl.Datetime("us")
            ),
            "note": pl.Series(NOTES, dtype=pl.String).gather(note_idx),
            "_null": note_null,
        }
    ).select(
        pl.exclude("note", "_null"),
        pl.when(pl.col("_null")).then(None).otherwise(pl.col("note")).alias("note"),
    )


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Write atomically (a temp file renamed), so an interrupted run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.write_csv(
            tmp,
            datetime_format="%Y-%m-%d %H:%M:%S",
            float_precision=2,
            null_value="",
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_orders_csv(
    rows: int = DEFAULT_ROWS, *, bad: bool = False, seed: int = DEFAULT_SEED
) -> Path:
    """The cached CSV's path, generated first if it is missing."""
    path = csv_path(rows, bad=bad, seed=seed)
    if not path.exists():
        write_csv(generate(rows, bad=bad, seed=seed), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.datagen", description=__doc__)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument(
        "--bad-rows", action="store_true", help="make ~1%% of rows break the contract"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    path = csv_path(args.rows, bad=args.bad_rows, seed=args.seed)
    if args.force:
        path.unlink(missing_ok=True)
    cached = path.exists()
    t0 = time.perf_counter()
    ensure_orders_csv(args.rows, bad=args.bad_rows, seed=args.seed)
    took = time.perf_counter() - t0
    size = path.stat().st_size / 1e6
    how = "cached" if cached else f"generated in {took:.2f} s"
    print(f"{path} ({args.rows:,} rows, {size:.1f} MB, {how})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
