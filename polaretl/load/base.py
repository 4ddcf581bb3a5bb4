"""The load stage: typed, valid rows into the destination, inside the batch's transaction.

A loader is configuration (a table, a key, a mode), shared by every run of its pipeline;
what it learns about a run (the target's columns, ...) it keeps in the run's
`LoadContext.state`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import polars as pl

from polaretl.core import Connection, LoadContext, LoadResult, OnDuplicate
from polaretl.errors import ConfigError


class Loader(ABC):
    """Base class of destinations. `load` runs inside the batch's open transaction, so
    the rows commit together with the batch's quarantine records and checkpoint."""

    @abstractmethod
    def prepare(self, conn: Connection, schema: pl.Schema, ctx: LoadContext) -> None:
        """Create or check the target once per run, before the first batch."""

    @abstractmethod
    def load(self, conn: Connection, frame: pl.DataFrame, ctx: LoadContext) -> LoadResult:
        """Write one batch; raise `LoadError` to roll the batch back."""

    def start_fresh(self, conn: Connection, ctx: LoadContext) -> None:  # noqa: B027
        """Called in a transaction at the start of a run that does not resume: a loader
        that replaces its target's contents empties it here (default: nothing)."""

    def replaces(self) -> bool:
        """Whether a run that does not resume starts by emptying the target
        (`start_fresh`), so it must start afresh (default: no)."""
        return False

    def duplicate_policy(self, value: str | OnDuplicate) -> OnDuplicate:
        """Check an ``on_duplicate`` value for this loader; `Pipeline(on_duplicate=)`
        passes it to every run (`LoadContext.on_duplicate`).

        Raises:
            ConfigError: the value is unknown, or this loader applies no such policy.
        """
        raise ConfigError(
            f"on_duplicate= needs a loader that applies it (pe.PostgresLoader); "
            f"{self.describe()} does not."
        )

    def describe(self) -> str:
        return type(self).__name__


__all__ = ["Connection", "LoadContext", "LoadResult", "Loader"]
