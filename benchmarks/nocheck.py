"""`CastOnly`: a contract with its checks off, to measure what validation costs.

The columns are still cast to the contract's types (the typed target needs them, and a
value that does not cast is still quarantined), but Pandera's checks (``unique``,
``gt``, ``isin``, ...) are not run, so rows that break them load.
"""

from __future__ import annotations

import polars as pl

from polaretl.validate.cast import ERROR_DTYPE
from polaretl.validate.contract import _ERRS, _ROW, ContractValidator


class CastOnly(ContractValidator):
    """`ContractValidator` without the Pandera step."""

    def _check(self, rows: pl.DataFrame, present: list[str] | None = None) -> pl.DataFrame:
        return pl.DataFrame(schema={_ROW: pl.UInt32, _ERRS: ERROR_DTYPE})
