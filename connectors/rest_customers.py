"""Customers from a paginated JSON API -> the Customer contract -> upsert into ``customers``.

The API (``CUSTOMERS_API_URL``, default ``http://127.0.0.1:8000/cursor``) answers
``GET ?limit=500&updated_since=...`` with
``{"items": [{"customer_id": 1, "name": ..., "address": {"city": ...}}, ...],
"meta": {"next_cursor": "..."}}`` and wants ``Authorization: Bearer $CUSTOMERS_API_TOKEN``.
Each run after the first asks only for customers updated since the last one seen;
``polaretl run rest_customers --full-refresh`` reads them all again.

To try it locally: ``python -m tests.extract.restserver --port 8000 --token T`` in one
shell, then ``CUSTOMERS_API_TOKEN=T polaretl run rest_customers``.
"""

import os

import polaretl as pe
from contracts.customers import Customer
from polaretl.extract.rest import BearerAuth, CursorPaginator, RestExtractor

rest_customers = pe.Pipeline(
    "rest_customers",
    extractor=RestExtractor(
        os.environ.get("CUSTOMERS_API_URL", "http://127.0.0.1:8000/cursor"),
        records_path="items",
        paginator=CursorPaginator(cursor_path="meta.next_cursor", param="cursor"),
        params={"limit": 500},
        auth=BearerAuth(token_env="CUSTOMERS_API_TOKEN"),
        cursor_field="updated_at",
        cursor_param="updated_since",
        columns=["email"],  # the API may omit a null email
        rate_limit=20,
    ),
    contract=Customer,
    loader=pe.PostgresLoader("customers", key="customer_id", mode="upsert"),
    chunk_size=50_000,
    schedule="*/15 * * * *",
)
