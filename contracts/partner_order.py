"""The partner order contract: what a valid order from a partner's XML feed is."""

import datetime as dt

import pandera.polars as pa


class PartnerOrder(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    partner: str
    amount: float = pa.Field(ge=0)
    currency: str = pa.Field(isin=["EUR", "USD", "GBP"])
    ordered_at: dt.datetime
    city: str = pa.Field(nullable=True)
    skus: str = pa.Field(nullable=True)  # a JSON text list, e.g. ["SKU-93", "SKU-27"]
