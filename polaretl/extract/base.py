"""What every extractor yields (`Chunk`) and the base class a new source subclasses.

A source is split into *slices* (a file, a key range, an endpoint): each slice is read
on its own, checkpoints on its own, and is what the Celery executor dispatches as one
task. Inside a slice an extractor yields chunks of at most `chunk_size` records; after
each chunk the pipeline commits the rows, the quarantined records and `chunk.position`
in one transaction, and a later run calls `read(slice, position)` to resume after it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from polaretl.errors import ConfigError

#: Columns of `Chunk.rejects`: records the extractor could not even parse.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "raw": pl.String(),  # JSON text: the record exactly as received
    "errors": pl.String(),  # JSON text: a list of {column, check, value, message}
}

SOURCE_COLUMN = "_polaretl_source"


@dataclass
class Chunk:
    """One chunk of a slice, as received from the source.

    Args:
        frame: the records; text sources keep every column as text (the contract
            casts), so a bad value becomes a quarantined row rather than a crash.
        source: a label for the chunk, e.g. ``data/orders/a.csv`` or a URL page.
        position: JSON-serialisable state after this chunk; a later run passes it back
            to `Extractor.read` to resume. Include a fingerprint of the source if a
            changed source must be read again.
        sources: optional per-row source labels (``a.csv:17``), one per frame row;
            `source` is used for every row when absent.
        rejects: records that could not be parsed (see `REJECT_SCHEMA`).
        null_values: text values that mean null (``""``, ``"NA"``); applied by the
            contract, so the quarantined raw record still shows what was received.
        bytes_read: bytes consumed from the source for this chunk (metrics only).
    """

    frame: pl.DataFrame
    source: str
    position: dict[str, Any]
    sources: pl.Series | None = None
    rejects: pl.DataFrame | None = None
    null_values: Sequence[str] = ()
    bytes_read: int = 0
    received: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.sources is not None and len(self.sources) != self.frame.height:
            raise ConfigError(
                f"Chunk {self.source!r}: sources has {len(self.sources)} labels for "
                f"{self.frame.height} rows; an extractor gives one label per row (or none)."
            )
        if self.received < 0:
            self.received = self.frame.height + (
                self.rejects.height if self.rejects is not None else 0
            )

    def source_labels(self) -> pl.Series:
        """Per-row source labels, filled from `source` when the extractor gave none."""
        if self.sources is not None:
            return self.sources.cast(pl.String).alias(SOURCE_COLUMN)
        return pl.repeat(self.source, self.frame.height, dtype=pl.String, eager=True).alias(
            SOURCE_COLUMN
        )


def reject_frame(
    sources: Sequence[str], raws: Sequence[Any], errors: Sequence[list[dict[str, Any]]]
) -> pl.DataFrame:
    """Build `Chunk.rejects` from unparseable records (a cold path: only bad records).

    Example:
        >>> reject_frame(["a.csv:3"], ["2,b"], [[{"check": "field_count", "message": "x"}]]).height
        1
    """
    return pl.DataFrame(
        {
            "source": list(sources),
            "raw": [json.dumps(raw, ensure_ascii=False) for raw in raws],
            "errors": [json.dumps(errs, ensure_ascii=False, default=str) for errs in errors],
        },
        schema=REJECT_SCHEMA,
    )


class Extractor(ABC):
    """Base class of every source. Subclass it and implement `read`.

    Example:
        >>> class Numbers(Extractor):
        ...     def read(self, slice, state, chunk_size):
        ...         start = (state or {}).get("next", 0)
        ...         for lo in range(start, 10, chunk_size):
        ...             hi = min(lo + chunk_size, 10)
        ...             frame = pl.DataFrame({"n": [str(i) for i in range(lo, hi)]})
        ...             yield Chunk(frame, source=f"numbers[{lo}:{hi}]", position={"next": hi})
        >>> [c.frame.height for c in Numbers().read("all", None, 4)]
        [4, 4, 2]
    """

    #: Name shown in run records and the CLI.
    kind: str = "custom"

    def slices(self) -> list[str]:
        """The independent slices of this source (default: one). Each slice is read,
        checkpointed and (under Celery) dispatched on its own."""
        return ["all"]

    @abstractmethod
    def read(self, slice: str, state: dict[str, Any] | None, chunk_size: int) -> Iterator[Chunk]:
        """Yield the chunks of `slice`, resuming after `state` (None: from the start).

        Args:
            slice: one of `slices()`.
            state: the `position` of the last committed chunk of this slice, or None
                on a first run or a full refresh.
            chunk_size: the most records one chunk may hold.
        """

    def describe(self) -> str:
        """A one-line description for `polaretl list`; never includes secrets."""
        return self.kind
