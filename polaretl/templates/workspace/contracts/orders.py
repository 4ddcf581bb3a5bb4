"""The orders contract: what a valid order row is."""

import datetime as dt

import pandera.polars as pa


class Order(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    customer_id: int = pa.Field(gt=0)
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "paid", "shipped"])
    created_at: dt.datetime
    note: str = pa.Field(nullable=True)
