"""The example pipeline: order CSV files -> contract -> upsert into ``orders``."""

import polars as pl

import polaretl as pe
from contracts.orders import Order

orders = pe.Pipeline(
    "orders",
    extractor=pe.CsvExtractor("data/orders/*.csv", null_values=["", "NA"]),
    contract=Order,
    transforms=[lambda lf: lf.with_columns(pl.col("status").str.to_lowercase())],
    loader=pe.PostgresLoader("orders", key="order_id", mode="upsert"),
    chunk_size=100_000,
    schedule="*/30 * * * *",
)
