"""The base class a new source subclasses; what it yields is a `Chunk` (`polaretl.core`).

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
from typing import Any

import polars as pl

from polaretl.core import REJECT_SCHEMA, SOURCE_COLUMN, Chunk
from polaretl.extract.storable import storable_record


def reject_frame(
    sources: Sequence[str], raws: Sequence[Any], errors: Sequence[list[dict[str, Any]]]
) -> pl.DataFrame:
    """Build `Chunk.rejects` from unparseable records (a cold path: only bad records).

    Example:
        >>> reject_frame(["a.csv:3"], ["2,b"], [[{"check": "field_count", "message": "x"}]]).height
        1
    """
    # a NUL, a lone surrogate or bytes that are not UTF-8 in a record: escaped, named
    kept = [storable_record(r, e, s) for s, r, e in zip(sources, raws, errors, strict=True)]
    return pl.DataFrame(
        {
            "source": list(sources),
            "raw": [json.dumps(raw, ensure_ascii=False) for raw, _ in kept],
            "errors": [json.dumps(errs, ensure_ascii=False, default=str) for _, errs in kept],
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


__all__ = ["REJECT_SCHEMA", "SOURCE_COLUMN", "Chunk", "Extractor", "reject_frame"]
