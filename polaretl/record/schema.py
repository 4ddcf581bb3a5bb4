"""The ``polaretl`` schema in the destination database, created and migrated idempotently.

Migrations are numbered and append-only; `ensure_schema` applies the missing ones in
one transaction under an advisory lock, so concurrent first runs (workers starting
together) do not race. ``polaretl.meta`` holds the schema version.
"""

from __future__ import annotations

import psycopg

from polaretl.errors import RecordError

SCHEMA = "polaretl"
_LOCK_KEY = 0x706F6C61  # "pola": serialises migrations across processes

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE polaretl.runs (
            run_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            pipeline     text NOT NULL,
            status       text NOT NULL
                         CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
            executor     text NOT NULL DEFAULT 'local',
            full_refresh boolean NOT NULL DEFAULT false,
            started_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            processed    bigint NOT NULL DEFAULT 0,
            valid        bigint NOT NULL DEFAULT 0,
            rejected     bigint NOT NULL DEFAULT 0,
            loaded       bigint NOT NULL DEFAULT 0,
            batches      integer NOT NULL DEFAULT 0,
            error        text,
            traceback    text,
            timings      jsonb NOT NULL DEFAULT '{}'::jsonb,
            metrics      jsonb NOT NULL DEFAULT '{}'::jsonb,
            host         text,
            pid          integer
        );
        CREATE INDEX runs_pipeline_started ON polaretl.runs (pipeline, started_at DESC);

        CREATE TABLE polaretl.quarantine (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id          bigint NOT NULL REFERENCES polaretl.runs (run_id),
            pipeline        text NOT NULL,
            slice           text NOT NULL DEFAULT 'all',
            source          text,
            raw             jsonb NOT NULL,
            errors          jsonb NOT NULL,
            status          text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'replayed', 'discarded')),
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz,
            replay_run_id   bigint,
            discard_reason  text
        );
        CREATE INDEX quarantine_pipeline_status ON polaretl.quarantine (pipeline, status);
        CREATE INDEX quarantine_run ON polaretl.quarantine (run_id);

        CREATE TABLE polaretl.checkpoints (
            pipeline     text NOT NULL,
            slice        text NOT NULL,
            seq          bigint NOT NULL,
            run_id       bigint NOT NULL REFERENCES polaretl.runs (run_id),
            position     jsonb NOT NULL,
            received     bigint NOT NULL,
            loaded       bigint NOT NULL,
            rejected     bigint NOT NULL,
            committed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (pipeline, slice, seq)
        );

        CREATE TABLE polaretl.schema_versions (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            pipeline    text NOT NULL,
            version     integer NOT NULL,
            run_id      bigint REFERENCES polaretl.runs (run_id),
            columns     jsonb NOT NULL,
            added       jsonb NOT NULL DEFAULT '[]'::jsonb,
            removed     jsonb NOT NULL DEFAULT '[]'::jsonb,
            retyped     jsonb NOT NULL DEFAULT '[]'::jsonb,
            renamed     jsonb NOT NULL DEFAULT '[]'::jsonb,
            detected_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (pipeline, version)
        );

        CREATE TABLE polaretl.alerts (
            id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id    bigint REFERENCES polaretl.runs (run_id),
            pipeline  text NOT NULL,
            rule      text NOT NULL,
            message   text NOT NULL,
            channels  jsonb NOT NULL DEFAULT '{}'::jsonb,
            fired_at  timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        2,
        """
        -- The run lock of every executor: at most one running run per pipeline.
        CREATE UNIQUE INDEX runs_one_running ON polaretl.runs (pipeline)
            WHERE status = 'running';

        -- One row per slice of a run: its outcome, counts and attempts (the Celery
        -- executor caps attempts of a slice that keeps killing its worker).
        CREATE TABLE polaretl.slices (
            run_id       bigint NOT NULL REFERENCES polaretl.runs (run_id),
            slice        text NOT NULL,
            status       text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
            attempts     integer NOT NULL DEFAULT 0,
            started_at   timestamptz,
            finished_at  timestamptz,
            heartbeat_at timestamptz,
            processed    bigint NOT NULL DEFAULT 0,
            valid        bigint NOT NULL DEFAULT 0,
            rejected     bigint NOT NULL DEFAULT 0,
            loaded       bigint NOT NULL DEFAULT 0,
            timings      jsonb NOT NULL DEFAULT '{}'::jsonb,
            metrics      jsonb NOT NULL DEFAULT '{}'::jsonb,
            error        text,
            worker       text,
            PRIMARY KEY (run_id, slice)
        );
        """,
    ),
    (
        3,
        # Rejections per run, column and check, for dashboards and alerts: one count per
        # error (a record failing two checks counts once under each). Errors that are not
        # tied to a column (a malformed CSV line) have column NULL.
        """
        CREATE VIEW polaretl.rejections AS
        SELECT q.run_id,
               q.pipeline,
               e->>'column' AS "column",
               e->>'check' AS "check",
               count(*)::bigint AS count
        FROM polaretl.quarantine q
        CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(q.errors) = 'array' THEN q.errors
                 ELSE jsonb_build_array(q.errors) END
        ) AS e
        GROUP BY q.run_id, q.pipeline, e->>'column', e->>'check';
        CREATE INDEX alerts_pipeline_rule_fired
            ON polaretl.alerts (pipeline, rule, fired_at DESC);
        CREATE INDEX schema_versions_run ON polaretl.schema_versions (run_id);
        """,
    ),
    (
        4,
        # Data quality: a corrected version of a quarantined record (an edited export or
        # the Python API; `raw` keeps what was received), the slice whose first chunk
        # showed a schema change, and the keys loaded by the current run of a pipeline
        # whose policy is on_duplicate="quarantine" (rows of finished runs are deleted
        # when the next such run prepares its target).
        """
        ALTER TABLE polaretl.quarantine ADD COLUMN corrected jsonb;
        ALTER TABLE polaretl.schema_versions ADD COLUMN source text;
        CREATE TABLE polaretl.run_keys (
            run_id  bigint NOT NULL,
            key     text NOT NULL,
            PRIMARY KEY (run_id, key)
        );
        """,
    ),
    (
        5,
        # A record received again (a re-read file, a re-sent page) supersedes its pending
        # copy from an earlier run; this index finds that copy by where it came from.
        """
        CREATE INDEX quarantine_pending_source ON polaretl.quarantine (pipeline, source)
            WHERE status = 'pending';
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Create or migrate the ``polaretl`` schema; return its version. Idempotent.

    Needs an autocommit connection (polaretl opens all of its connections so and
    scopes every write in an explicit transaction).
    """
    try:
        current = _read_version(conn)
        if current >= LATEST:
            return current
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS polaretl.meta (key text PRIMARY KEY, value text)"
            )
            current = _read_version(conn)  # again, under the lock
            for version, ddl in MIGRATIONS:
                if version > current:
                    conn.execute(ddl)  # trusted, static DDL
                    conn.execute(
                        "INSERT INTO polaretl.meta VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(version),),
                    )
                    current = version
        return current
    except psycopg.Error as exc:
        raise RecordError(
            f"Cannot create or migrate the polaretl schema: {exc}. The database user needs "
            "CREATE on the database (or create schema polaretl for it)."
        ) from exc


def _read_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT to_regclass('polaretl.meta') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT value FROM polaretl.meta WHERE key = 'schema_version'").fetchone()
    return int(str(got[0])) if got else 0
