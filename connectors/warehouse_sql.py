"""Orders from a live warehouse database -> WarehouseOrder -> ``warehouse_orders``.

``WAREHOUSE_URL`` holds the source database's URL (``postgresql://user:pw@host/db`` or
``sqlite:///file.db``); the password never reaches logs, checkpoints or run records.
``public.orders`` is read in 4 ranges of ``order_id`` (independent slices, run in
parallel under ``--executor celery``), and each run after the first reads only rows
whose ``updated_at`` grew past the largest value seen; ``polaretl run warehouse_orders
--full-refresh`` reads everything again.
"""

import polaretl as pe
from contracts.warehouse_orders import WarehouseOrder

warehouse_orders = pe.Pipeline(
    "warehouse_orders",
    extractor=pe.SqlExtractor(
        url_env="WAREHOUSE_URL",
        table="public.orders",
        partition_on="order_id",
        partitions=4,
        cursor_column="updated_at",
    ),
    contract=WarehouseOrder,
    loader=pe.PostgresLoader("warehouse_orders", key="order_id", mode="upsert"),
    chunk_size=100_000,
    schedule="0 * * * *",
)
