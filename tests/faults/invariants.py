"""The four invariants every fault scenario ends with (issue: zero silent failures).

A: target rows == distinct valid source keys; no key appears twice.
B: target rows + quarantined rows == source records; quarantined == the bad records
   planted, each with a reason.
C: a batch's checkpoint exists if and only if its rows exist (checkpointed loaded and
   rejected counts equal what is in the target and the quarantine); no staging leftovers.
D: every run ended `succeeded` or `failed` (failed with a non-empty error), or was
   `skipped` with its reason (a scheduled fire refused by the run lock); none is left
   `running`.

`check` raises AssertionError naming the invariant that broke; each call that holds is
counted, and the fault suite prints the tally at the end of the session.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

HELD: dict[str, int] = {"scenarios": 0, "passed": 0, "checks": 0}


@dataclass(frozen=True)
class Source:
    """What the scenario fed the pipeline: every key unique across the source."""

    records: int
    bad: int

    @property
    def valid(self) -> int:
        return self.records - self.bad


def check(
    url: str,
    *,
    pipeline: str,
    table: str,
    key: str,
    source: Source,
    checkpoints_cover_all: bool = True,
) -> None:
    """Assert A-D for `pipeline` loading `table` (keyed by `key`) from `source`.

    `checkpoints_cover_all`: every row came through a checkpointed batch of this
    pipeline (false when a scenario also wrote rows some other way).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        rows, keys = conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT {}) FROM {}").format(
                sql.Identifier(key), sql.Identifier(table)
            )
        ).fetchone()  # type: ignore[misc]
        assert keys == rows, f"A: {rows - keys} duplicate key(s) in {table}"
        assert rows == source.valid, f"A: {rows} rows in {table}, {source.valid} valid keys"

        quarantined, without_reason, sources = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE jsonb_array_length(errors) = 0 "
            "OR errors::text NOT LIKE '%%message%%'), count(DISTINCT (source, raw)) "
            "FROM polaretl.quarantine WHERE pipeline = %s AND status <> 'discarded'",
            (pipeline,),
        ).fetchone()  # type: ignore[misc]
        assert quarantined == source.bad, f"B: {quarantined} quarantined, {source.bad} planted"
        assert sources == quarantined, f"B: {quarantined - sources} record(s) quarantined twice"
        assert without_reason == 0, f"B: {without_reason} quarantined record(s) without a reason"
        assert rows + quarantined == source.records, (
            f"B: {rows} loaded + {quarantined} quarantined != {source.records} records"
        )

        if checkpoints_cover_all:
            loaded, rejected, written = conn.execute(
                "SELECT coalesce(sum(loaded), 0), coalesce(sum(rejected), 0), "
                "(SELECT count(*) FROM polaretl.quarantine WHERE pipeline = %s) "
                "FROM polaretl.checkpoints WHERE pipeline = %s",
                (pipeline, pipeline),
            ).fetchone()  # type: ignore[misc]
            assert loaded == rows, f"C: checkpoints say {loaded} loaded, {table} has {rows}"
            # every rejection ever committed is a quarantine record (superseded ones too)
            assert rejected == written, (
                f"C: checkpoints say {rejected} rejected, the quarantine holds {written}"
            )
        leftovers = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname LIKE '\\_polaretl\\_stage%%' AND n.nspname NOT LIKE 'pg\\_temp%%'"
        ).fetchall()
        assert not leftovers, f"C: staging tables left behind: {leftovers}"

        runs = conn.execute(
            "SELECT run_id, status, error FROM polaretl.runs WHERE pipeline = %s ORDER BY run_id",
            (pipeline,),
        ).fetchall()
        assert runs, "D: no run recorded"
        for run_id, status, error in runs:
            assert status in ("succeeded", "failed", "skipped"), f"D: run {run_id} left {status!r}"
            if status in ("failed", "skipped"):
                assert error and error.strip(), f"D: failed run {run_id} has no error"
    HELD["checks"] += 1


def check_orders(url: str, pipeline: str, *, rows: int, bad_every: int) -> None:
    """`check` for an orders pipeline fed by `tests.helpers.orders_csv` files: `rows`
    records, every `bad_every`-th of them bad."""
    check(
        url,
        pipeline=pipeline,
        table="orders",
        key="order_id",
        source=Source(records=rows, bad=rows // bad_every),
    )


def check_replay(url: str, *, pipeline: str, table: str, key: str, source: Source) -> None:
    """Assert A-D after `source`'s bad records were all corrected and replayed, however
    many replays it took (and whatever killed the ones before):

    A: target rows == source records (valid ones loaded by the run, corrected ones by a
       replay); no key twice.
    B: every quarantined record is ``replayed`` (none pending), and each is the source
       (``quarantine:<id>``) of exactly one row.
    C: each replay's ``loaded`` count equals the records it marked replayed and the rows
       it wrote; no staging leftovers.
    D: every run of the pipeline and of its replays ended (succeeded, or failed with its
       error); none is left ``running``.
    """
    replays = pipeline + ":replay"
    with psycopg.connect(url, autocommit=True) as conn:
        rows, keys = conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT {}) FROM {}").format(
                sql.Identifier(key), sql.Identifier(table)
            )
        ).fetchone()  # type: ignore[misc]
        assert keys == rows, f"A: {rows - keys} duplicate key(s) in {table}"
        assert rows == source.records, f"A: {rows} rows in {table}, {source.records} records"

        records, replayed, pending = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'replayed' "
            "AND replay_run_id IS NOT NULL), count(*) FILTER (WHERE status = 'pending') "
            "FROM polaretl.quarantine WHERE pipeline = %s",
            (pipeline,),
        ).fetchone()  # type: ignore[misc]
        assert records == source.bad, f"B: {records} quarantined, {source.bad} planted"
        assert (replayed, pending) == (records, 0), f"B: {replayed} replayed, {pending} pending"
        unmatched = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM polaretl.quarantine q WHERE q.pipeline = %s AND "
                "(SELECT count(*) FROM {} t WHERE t._polaretl_source = 'quarantine:' || q.id) <> 1"
            ).format(sql.Identifier(table)),
            (pipeline,),
        ).fetchone()  # type: ignore[misc]
        assert unmatched == (0,), f"B: {unmatched[0]} record(s) not loaded exactly once"

        for run_id, loaded in conn.execute(
            "SELECT run_id, loaded FROM polaretl.runs WHERE pipeline = %s", (replays,)
        ).fetchall():
            marked = conn.execute(
                "SELECT count(*) FROM polaretl.quarantine WHERE replay_run_id = %s", (run_id,)
            ).fetchone()
            written = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE _polaretl_run_id = %s").format(
                    sql.Identifier(table)
                ),
                (run_id,),
            ).fetchone()
            assert marked == written == (loaded,), (
                f"C: replay {run_id} loaded {loaded}, marked {marked}, wrote {written}"
            )
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname LIKE '\\_polaretl\\_stage%%' AND n.nspname NOT LIKE 'pg\\_temp%%'"
        ).fetchone()
        assert leftovers == (0,), "C: staging tables left behind"

        for run_id, status, error in conn.execute(
            "SELECT run_id, status, error FROM polaretl.runs WHERE pipeline IN (%s, %s)",
            (pipeline, replays),
        ).fetchall():
            assert status in ("succeeded", "failed"), f"D: run {run_id} left {status!r}"
            if status == "failed":
                assert error and error.strip(), f"D: failed run {run_id} has no error"
    HELD["checks"] += 1
