"""The legacy customers contract: rows of ``public.customers`` in an old system's dump.

Used by ``connectors/legacy_dump.py``. A `pg_dump` file holds every value as text;
the contract casts it, so a bad value quarantines its row instead of failing the run.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl


class LegacyCustomer(pa.DataFrameModel):
    """One customer of the legacy system, keyed by ``customer_id``."""

    customer_id: int = pa.Field(unique=True, gt=0)
    name: str = pa.Field(str_length={"min_value": 1})
    email: str = pa.Field(nullable=True, str_matches=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    country: str = pa.Field(str_matches=r"^[A-Z]{2}$")
    # pg_dump writes timestamptz with its offset ("2019-03-01 09:00:00+00").
    signed_up: Annotated[pl.Datetime, "us", "UTC"]
    notes: str = pa.Field(nullable=True)
