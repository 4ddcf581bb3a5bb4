"""`Definition`: what a pipeline is — its four stages and the settings of its runs.

``extract -> validate -> transform -> load``, checked when built. `polaretl.Pipeline`
(``pipeline.py``) is a Definition that can run itself; everything below it that needs a
pipeline (the workspace, alerts, the run lifecycle) takes a Definition, so none of it
depends on how runs are started.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandera.polars as pa
import polars as pl

from polaretl.core import SOURCE_COLUMN, OnDuplicate
from polaretl.errors import ConfigError
from polaretl.extract.base import Extractor
from polaretl.load.base import Loader
from polaretl.transform import Transformer, TransformFn, as_transforms, chain
from polaretl.validate.base import PassThrough, Validator
from polaretl.validate.contract import ContractValidator

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


class Definition:
    """A source, a contract (or a validator), transforms and a destination, with the
    settings of their runs; `polaretl.Pipeline` documents the arguments."""

    def __init__(
        self,
        name: str,
        *,
        extractor: Extractor,
        loader: Loader,
        contract: type[pa.DataFrameModel] | None = None,
        validator: Validator | None = None,
        transforms: Sequence[Transformer | TransformFn] | None = None,
        chunk_size: int = 100_000,
        schedule: str | None = None,
        alerts: Sequence[Any] | None = None,
        retries: int = 3,
        concurrency: int = 1,
        queue: str | None = None,
        on_duplicate: str | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(
                f"Pipeline name {name!r} is not valid: use letters, digits, _ . - "
                "(at most 63, starting with a letter or _)."
            )
        if not isinstance(extractor, Extractor):
            raise ConfigError(
                f"Pipeline {name}: extractor must be a pe.Extractor, not {extractor!r}."
            )
        if not isinstance(loader, Loader):
            raise ConfigError(f"Pipeline {name}: loader must be a pe.Loader, not {loader!r}.")
        if contract is not None and validator is not None:
            raise ConfigError(f"Pipeline {name}: give contract= or validator=, not both.")
        if chunk_size < 1:
            raise ConfigError(f"Pipeline {name}: chunk_size must be at least 1.")
        self.name = name
        self.extractor = extractor
        self.loader = loader
        self.contract = contract
        self.validator: Validator = (
            ContractValidator(contract) if contract is not None else validator or PassThrough()
        )
        self.transforms = as_transforms(transforms)
        self.chunk_size = chunk_size
        self.schedule = schedule
        self.alerts = list(alerts or [])
        self.retries = retries
        self.concurrency = concurrency
        self.queue = queue
        # the loader applies the policy in the batch's transaction; each run passes it on
        self.on_duplicate: OnDuplicate | None = (
            _policy(name, loader, on_duplicate) if on_duplicate is not None else None
        )

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {self.extractor.describe()} -> {self.loader.describe()})"

    @property
    def nullable(self) -> dict[str, bool]:
        """Column nullability declared by the contract (target columns are NOT NULL
        where the contract says so)."""
        if isinstance(self.validator, ContractValidator):
            return {f.name: f.null_in_target for f in self.validator.fields}
        return {}

    def output_schema(self) -> pl.Schema:
        """The columns and dtypes the loader receives: the contract through the transforms."""
        if not isinstance(self.validator, ContractValidator):
            raise ConfigError(
                f"Pipeline {self.name}: without a contract polaretl cannot know the target's "
                "columns before reading; give contract=."
            )
        empty = self.validator.empty_valid()
        schema = chain(self.transforms, empty.lazy()).collect_schema()
        return pl.Schema({n: t for n, t in schema.items() if n != SOURCE_COLUMN})

    def replaces(self) -> bool:
        """Whether a run that does not resume empties the target first."""
        return self.loader.replaces()


def _policy(name: str, loader: Loader, value: str) -> OnDuplicate:
    try:
        return loader.duplicate_policy(value)
    except ConfigError as exc:
        raise ConfigError(f"Pipeline {name}: {exc}") from exc
