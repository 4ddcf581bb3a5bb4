"""The customers contract: what a customer record must look like to be loaded.

Used by ``connectors/rest_customers.py``. The API delivers every value as text and
the contract casts it, so a bad value quarantines its row instead of failing the run.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl


class Customer(pa.DataFrameModel):
    """One customer, keyed by ``customer_id``; other columns the API sends are tolerated."""

    customer_id: int = pa.Field(unique=True)
    name: str
    email: str = pa.Field(nullable=True)
    country: str
    # Timezone-aware: APIs send ISO 8601 with "Z" or an offset, which a naive
    # datetime column cannot hold without guessing.
    updated_at: Annotated[pl.Datetime, "us", "UTC"]
