"""The warehouse orders contract: rows of ``public.orders`` read from a live database.

Used by ``connectors/warehouse_sql.py``. `SqlExtractor` keeps the database's types
(integers, timestamps) and gives ``numeric`` as exact text, which this contract casts.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl


class WarehouseOrder(pa.DataFrameModel):
    """One order of the warehouse, keyed by ``order_id``."""

    order_id: int = pa.Field(unique=True)
    customer_id: int = pa.Field(gt=0)
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "paid", "shipped"])
    updated_at: Annotated[pl.Datetime, "us", "UTC"]
    note: str = pa.Field(nullable=True)
