"""`Pipeline`: the object a user builds — a `Definition` that can run itself.

It sits at the top of the layers, beside the API and the CLI, because `run` starts the
run lifecycle (`polaretl.run`); what the layers below need of a pipeline is its
`Definition` (``definition.py``).
"""

from __future__ import annotations

from pathlib import Path

from polaretl import db
from polaretl.definition import Definition
from polaretl.record.runs import RunResult
from polaretl.run.local import execute
from polaretl.run.slice import Progress


class Pipeline(Definition):
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
        url = db.resolve_url(database_url, workspace)
        return execute(self, url, full_refresh=full_refresh, progress=progress)
