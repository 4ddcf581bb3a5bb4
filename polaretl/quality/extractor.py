"""`QuarantineExtractor`: quarantined records as a source, the one a replay reads.

Each record is read as it stands — its correction, else as received — one text column
per field, in the order of the records' ids. Every row's source label is
``quarantine:<id>``, which is what the replay's batch commit marks ``replayed`` (or gives
new errors), and what the loaded row keeps as its lineage. Nothing else distinguishes a
replay from a run: its chunks go through the pipeline's contract, transforms and loader
and are committed as any run's are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

import polars as pl
import psycopg

from polaretl.core import Chunk
from polaretl.db import Link
from polaretl.extract.base import Extractor
from polaretl.record import quarantine
from polaretl.record.quarantine import QUARANTINE_LABEL

T = TypeVar("T")
ID = "_quarantine_id"
SLICE = "quarantine"


class QuarantineExtractor(Extractor):
    """The pending records `ids` of the database at `url`, as one slice.

    Args:
        url: the database holding ``polaretl.quarantine``.
        ids: the records to read (a replay picks the pending ones it can run).
        null_values: text values that mean null, as the pipeline's own source has them.

    The position after a chunk is the last id it holds (``{"after": id}``).
    """

    kind = "quarantine"

    def __init__(self, url: str, ids: Sequence[int], null_values: Sequence[str] = ("",)):
        self.url = url
        self.ids = sorted(int(i) for i in ids)
        self.null_values = list(null_values)

    def slices(self) -> list[str]:
        return [SLICE]

    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        after = int((state or {}).get("after", 0))
        todo = [i for i in self.ids if i > after]
        if not todo:
            return
        link = Link(self.url)
        try:
            # every chunk has the fields of all the records: a field no record of one
            # chunk has is null there, not a missing (required) column
            names = _again(link, quarantine.field_names, todo)
            for start in range(0, len(todo), chunk_size):
                part = todo[start : start + chunk_size]
                # pending records with fields only: one replayed meanwhile, or one that was
                # never parsed and has no correction, is not read
                wide = _again(link, partial(quarantine.fields, id_column=ID), part)
                frame = wide.sort(ID).select(
                    ID,
                    *[
                        pl.col(n) if n in wide.columns else pl.lit(None, pl.String).alias(n)
                        for n in names
                    ],
                )
                if frame.height == 0:
                    continue
                yield Chunk(
                    frame.drop(ID),
                    source=SLICE,
                    position={"after": part[-1]},
                    sources=QUARANTINE_LABEL + frame[ID].cast(pl.String),
                    null_values=self.null_values,
                )
        finally:
            link.close()

    def describe(self) -> str:
        return f"quarantine ({len(self.ids)} records)"


def _again(link: Link, read: Callable[..., T], ids: list[int]) -> T:
    """`read` (a `polaretl.record.quarantine` reader) of the pending records `ids` over the
    link's connection; once more over a new one if it dropped (a restarted server):
    reading is idempotent."""
    selection = quarantine.where(ids=ids)
    try:
        return read(link.conn, *selection)
    except psycopg.OperationalError:
        return read(link.reconnect(), *selection)
