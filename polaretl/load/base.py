"""The load stage: typed, valid rows into the destination, inside the batch's transaction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg

Connection = psycopg.Connection[tuple[Any, ...]]


@dataclass
class LoadContext:
    """What a loader knows about the batch it loads."""

    run_id: int
    pipeline: str
    nullable: dict[str, bool] = field(default_factory=dict)
    #: the destination, for a loader's side connections (None: use `conn` only)
    url: str | None = None


@dataclass
class LoadResult:
    """Rows accepted by the target (`loaded`), rows actually written (`written`: rows
    identical to what the target held are not rewritten) and in-batch duplicates that
    were collapsed last-wins (`deduplicated`)."""

    loaded: int
    written: int
    deduplicated: int = 0


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

    def describe(self) -> str:
        return type(self).__name__
