"""The validation stage: a chunk in, valid rows and quarantined rows out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import polars as pl

from polaretl.extract.base import REJECT_SCHEMA, SOURCE_COLUMN, Chunk
from polaretl.load.base import Connection, LoadContext


@dataclass
class Split:
    """The two halves of a chunk.

    Attributes:
        valid: typed rows ready to transform and load, with a `_polaretl_source` column.
        quarantined: rows that failed, as ``source``, ``raw`` (JSON text of the record as
            received) and ``errors`` (JSON text: a list of {column, check, value, message}).
    """

    valid: pl.DataFrame
    quarantined: pl.DataFrame


class Validator(ABC):
    """Base class of the validation stage. Subclass it to check chunks your own way."""

    def begin_run(self, conn: Connection, ctx: LoadContext) -> None:  # noqa: B027
        """Called once per run (and per slice task under Celery) before the first chunk,
        with a connection to the destination: load what `split` needs from it (e.g.
        referenced keys). `split` itself runs in a background thread without one."""

    @abstractmethod
    def split(self, chunk: Chunk) -> Split:
        """Split one chunk into valid and quarantined rows; never drop a row."""


class PassThrough(Validator):
    """No contract: every parsed record is valid, as received."""

    def split(self, chunk: Chunk) -> Split:
        return Split(
            valid=chunk.frame.with_columns(chunk.source_labels()),
            quarantined=pl.DataFrame(schema=REJECT_SCHEMA),
        )


__all__ = ["PassThrough", "SOURCE_COLUMN", "Split", "Validator"]
