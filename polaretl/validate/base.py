"""The validation stage: a chunk in, valid rows and quarantined rows out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import polars as pl

from polaretl.core import REJECT_SCHEMA, SOURCE_COLUMN, Chunk, Connection, LoadContext, Split


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
