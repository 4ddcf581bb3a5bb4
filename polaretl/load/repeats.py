"""Keys a run has loaded, counted in memory: the repeats ``on_duplicate="last"`` lets win.

Under ``on_duplicate="last"`` a key that comes again in a later batch of the run is
loaded again (the last copy wins) and counted in the run's metrics
(``run_duplicates``). A query per batch against the target cost a fifth of an upsert's
time, so the run's keys are hashed here instead; ``on_duplicate="quarantine"`` claims
them in the database (`LoadContext.claim_keys`), since every copy after the first is
refused whatever process loads it.
"""

from __future__ import annotations

import polars as pl


class Seen:
    """Hashes of the keys a loader has loaded in the current run, in this process, for
    counting repeats under ``on_duplicate="last"`` at no database cost.

    Exact under the local executor (one process runs every slice); under Celery,
    repeats split across worker processes are loaded last-wins but not counted. The
    keys of a batch count as loaded from the next batch on; the same batch loaded again
    (a retry after its transaction rolled back) is not counted against itself.

    Example:
        >>> seen, a, b = Seen(), pl.DataFrame({"k": [1, 2]}), pl.DataFrame({"k": [2, 3]})
        >>> seen.count(7, a, a), seen.count(7, a, a), seen.count(7, b, b)
        (0, 0, 1)
        >>> seen.remember(7, pl.DataFrame({"k": [4]}), pl.DataFrame({"k": [4]}))
        >>> seen.count(7, a, pl.DataFrame({"k": [3, 4, 5]}))
        2
    """

    def __init__(self) -> None:
        self._reset(None)

    def _reset(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.done = pl.Series("h", [], dtype=pl.UInt64)
        self.last: pl.Series | None = None
        self.last_batch: object = None

    def count(self, run_id: int, batch: object, keys: pl.DataFrame) -> int:
        """How many rows of `keys` (one per distinct key) an earlier batch loaded."""
        self._advance(run_id, batch)
        hashes = keys.hash_rows()
        found = int(hashes.is_in(self.done.implode()).sum()) if self.done.len() else 0
        self.last, self.last_batch = hashes, batch  # holding `batch` keeps its id unique
        return found

    def remember(self, run_id: int, batch: object, keys: pl.DataFrame) -> None:
        """Note `keys` as loaded by `batch` without counting: for a batch known to repeat
        no earlier key (COPY into a table with that primary key succeeded)."""
        self._advance(run_id, batch)
        self.last, self.last_batch = keys.hash_rows(), batch

    def _advance(self, run_id: int, batch: object) -> None:
        if run_id != self.run_id:
            self._reset(run_id)
        elif self.last is not None and batch is not self.last_batch:
            self.done = pl.concat([self.done, self.last], rechunk=False)
