"""Small helpers shared by tests: example data, a query shortcut."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def copy_example_orders(dest: Path) -> Path:
    """A copy of the example order files (tests may change them)."""
    target = dest / "orders"
    shutil.copytree(ROOT / "data" / "orders", target)
    return target


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def orders_csv(path: Path, n: int, *, start: int = 1, bad_every: int = 0) -> Path:
    """An orders CSV of `n` rows; every `bad_every`-th row has a negative amount."""
    lines = ["order_id,customer_id,amount,status,created_at,note"]
    for i in range(start, start + n):
        amount = "-1" if bad_every and i % bad_every == 0 else f"{i % 100}.5"
        lines.append(f"{i},{i % 7 + 1},{amount},new,2026-01-01 00:00:00,n{i}")
    path.write_text("\n".join(lines) + "\n")
    return path
