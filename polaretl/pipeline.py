"""`Pipeline`: extract -> validate -> transform -> load, run chunk by chunk."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from polaretl import db
from polaretl.errors import ConfigError
from polaretl.extract.base import SOURCE_COLUMN, Extractor
from polaretl.load.base import Loader
from polaretl.record.result import RunResult
from polaretl.run.slice import Progress
from polaretl.transform import Transformer, TransformFn, as_transforms, chain
from polaretl.validate.base import PassThrough, Validator
from polaretl.validate.contract import ContractValidator

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


class Pipeline:
    """A source, a contract, transforms and a destination, run as a stream of chunks.

    Args:
        name: unique in the workspace; ``polaretl run NAME`` finds it.
        extractor: where records come from (`CsvExtractor`, ... or your subclass).
        contract: a `pandera.polars.DataFrameModel`; rows failing it are quarantined.
        validator: a custom `Validator` instead of a contract.
        transforms: ``LazyFrame -> LazyFrame`` functions or `Transformer`s, in order.
        loader: where valid rows go (`PostgresLoader`).
        chunk_size: records per chunk; one chunk is one committed batch.
        schedule: cron expression (``*/30 * * * *``) for ``polaretl beat``.
        alerts: alert rules evaluated when a run finishes.
        retries: attempts per batch on a transient database error.
        concurrency: slices in flight at once under the Celery executor.
        queue: the Celery queue this pipeline's tasks go to.
        on_duplicate: a key that comes again in a later batch of the same run:
            ``"last"`` (the last copy wins; the loader's default under upsert) or
            ``"quarantine"`` (the first copy is loaded, later ones are quarantined).
            Either way repeats are counted in the run's metrics (``run_duplicates``).

    Example:
        >>> import polaretl as pe
        >>> p = pe.Pipeline("demo", extractor=pe.CsvExtractor("x/*.csv"),
        ...                 loader=pe.PostgresLoader("demo"))
        >>> p.name, p.chunk_size
        ('demo', 100000)
    """

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
        if on_duplicate is not None:  # the loader applies the policy, in the batch's txn
            policy = getattr(loader, "duplicate_policy", None)
            if policy is None:
                raise ConfigError(
                    f"Pipeline {name}: on_duplicate= needs a loader that applies it "
                    f"(pe.PostgresLoader); {loader.describe()} does not."
                )
            loader.on_duplicate = policy(on_duplicate)  # type: ignore[attr-defined]

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
        return getattr(getattr(self.loader, "mode", None), "value", None) == "replace"

    def run(
        self,
        *,
        database_url: str | None = None,
        full_refresh: bool = False,
        workspace: str | Path = ".",
        progress: Progress | None = None,
    ) -> RunResult:
        """Run once, in this process, and return what it did.

        Args:
            database_url: the destination (else ``POLARETL_DATABASE_URL``, else the
                embedded PostgreSQL under ``WORKSPACE/.polaretl``).
            full_refresh: ignore checkpoints and read every source from the start.
            workspace: where the embedded database lives.
            progress: called after each committed batch with its counts.

        Raises:
            RunLockedError: another run of this pipeline is in progress.
            RunFailedError: the run failed; it is recorded with its error.
        """
        from polaretl.run.local import execute  # noqa: PLC0415 - avoids an import cycle

        url = db.resolve_url(database_url, workspace)
        return execute(self, url, full_refresh=full_refresh, progress=progress)
