"""The transform stage: pure ``LazyFrame -> LazyFrame`` functions over valid rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import polars as pl

from polaretl.errors import ConfigError

TransformFn = Callable[[pl.LazyFrame], pl.LazyFrame]


class Transformer(ABC):
    """Base class of transforms. A plain function ``LazyFrame -> LazyFrame`` works too.

    Example:
        >>> class Upper(Transformer):
        ...     def transform(self, lf):
        ...         return lf.with_columns(pl.col("s").str.to_uppercase())
        >>> apply([Upper()], pl.DataFrame({"s": ["a"]})).to_dicts()
        [{'s': 'A'}]
    """

    @abstractmethod
    def transform(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Return the transformed frame; keep it lazy so Polars can plan the whole chain."""

    def __call__(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        return self.transform(lf)


def as_transforms(items: Sequence[Transformer | TransformFn] | None) -> list[TransformFn]:
    """Check and normalise a pipeline's ``transforms=``."""
    out: list[TransformFn] = []
    for item in items or []:
        if not callable(item):
            raise ConfigError(
                f"transforms must be Transformer objects or functions LazyFrame -> LazyFrame, "
                f"not {type(item).__name__}."
            )
        out.append(item)
    return out


def chain(transforms: Sequence[TransformFn], lf: pl.LazyFrame) -> pl.LazyFrame:
    """Apply the transforms in order, lazily."""
    for fn in transforms:
        result = fn(lf)
        if not isinstance(result, pl.LazyFrame):
            raise ConfigError(
                f"The transform {getattr(fn, '__name__', fn)!r} returned "
                f"{type(result).__name__}, not a LazyFrame; return lf.with_columns(...) etc."
            )
        lf = result
    return lf


def apply(transforms: Sequence[TransformFn], frame: pl.DataFrame) -> pl.DataFrame:
    """Run the transform chain on one batch."""
    return chain(transforms, frame.lazy()).collect() if transforms else frame
