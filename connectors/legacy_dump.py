"""Customers from an old system's `pg_dump` file -> LegacyCustomer -> ``legacy_customers``.

``data/dumps/legacy.sql`` is a plain-SQL dump (``pg_dump`` without ``-F``; gzip is fine
too). polaretl only parses it: nothing in the file is executed. Only the data of
``public.customers`` is read; a changed dump file is read again on the next run, an
unchanged one is skipped.
"""

import polaretl as pe
from contracts.legacy_customers import LegacyCustomer

legacy_customers = pe.Pipeline(
    "legacy_customers",
    extractor=pe.PgDumpExtractor("data/dumps/legacy.sql", tables=["public.customers"]),
    contract=LegacyCustomer,
    loader=pe.PostgresLoader("legacy_customers", key="customer_id", mode="upsert"),
    chunk_size=100_000,
)
