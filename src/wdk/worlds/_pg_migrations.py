"""Versioned schema migrations for the PostgreSQL world.

Each migration is a list of SQL statements with ``{s}`` standing for the quoted schema name.
Migrations are numbered from 1, applied in order, each in its own transaction together with its
row in ``schema_migrations``. A transaction-scoped advisory lock on a constant key serialises
every migrator (``PostgresWorld.setup()`` in many workers, ``wdk db migrate``), so running them
concurrently is safe: the second one waits, then finds nothing left to do.

Never edit a migration that has shipped; append a new one.
"""

from __future__ import annotations

import re

import psycopg

from wdk.worlds._pg_functions import APPEND_BATCH, APPEND_ONE
from wdk.worlds._pg_functions_v2 import APPEND_ONE_V2

__all__ = ["MIGRATIONS", "LOCK_KEY", "migrate", "quote_schema"]

#: ``pg_advisory_xact_lock`` key shared by every wdk migrator ("wdk" + "mig" in ASCII).
LOCK_KEY = 0x77646B6D6967

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

MIGRATIONS: list[list[str]] = [
    # 1: the event log, the runs view, hooks, the queue and streams.
    [
        """CREATE TABLE {s}.runs (
            run_id text PRIMARY KEY,
            workflow_id text NOT NULL,
            status text NOT NULL,
            created_at double precision NOT NULL,
            started_at double precision,
            completed_at double precision,
            input bytea,
            output bytea,
            error bytea
        )""",
        "CREATE INDEX runs_newest ON {s}.runs (created_at DESC, run_id DESC)",
        "CREATE INDEX runs_workflow ON {s}.runs (workflow_id, created_at DESC, run_id DESC)",
        "CREATE INDEX runs_status ON {s}.runs (status, created_at DESC, run_id DESC)",
        # One row per run holding its last seq: appenders lock it (upsert), so seqs are dense
        # and two appenders to one run serialise while appenders to other runs do not.
        """CREATE TABLE {s}.run_seq (
            run_id text PRIMARY KEY,
            last_seq bigint NOT NULL
        )""",
        """CREATE TABLE {s}.events (
            run_id text NOT NULL,
            seq bigint NOT NULL,
            type text NOT NULL,
            correlation_id text,
            data bytea,
            created_at double precision NOT NULL,
            dedup_key text,
            PRIMARY KEY (run_id, seq)
        )""",
        # Exactly-once recording: the database, not the application, refuses a second event
        # with the same key in a run.
        """CREATE UNIQUE INDEX events_dedup ON {s}.events (run_id, dedup_key)
            WHERE dedup_key IS NOT NULL""",
        """CREATE TABLE {s}.hooks (
            id bigserial PRIMARY KEY,
            run_id text NOT NULL,
            correlation_id text NOT NULL,
            token text NOT NULL,
            metadata bytea,
            kind text NOT NULL,
            created_at double precision NOT NULL,
            disposed_at double precision
        )""",
        # Token uniqueness among live hooks, enforced by the database.
        "CREATE UNIQUE INDEX hooks_live_token ON {s}.hooks (token) WHERE disposed_at IS NULL",
        "CREATE INDEX hooks_live_run ON {s}.hooks (run_id, id) WHERE disposed_at IS NULL",
        # Every row is live (acked messages are deleted), so the key is simply unique.
        """CREATE TABLE {s}.queue (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            run_id text NOT NULL,
            key text NOT NULL UNIQUE,
            payload bytea,
            not_before double precision NOT NULL,
            lease_until double precision,
            owner text,
            deliveries integer NOT NULL DEFAULT 0,
            dirty boolean NOT NULL DEFAULT false,
            dirty_not_before double precision,
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX queue_due ON {s}.queue (not_before, id)",
        "CREATE INDEX queue_run ON {s}.queue (run_id)",
        """CREATE TABLE {s}.streams (
            run_id text NOT NULL,
            namespace text NOT NULL,
            tail integer NOT NULL DEFAULT -1,
            closed boolean NOT NULL DEFAULT false,
            created_at double precision NOT NULL,
            PRIMARY KEY (run_id, namespace)
        )""",
        """CREATE TABLE {s}.chunks (
            run_id text NOT NULL,
            namespace text NOT NULL,
            idx integer NOT NULL,
            data bytea NOT NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (run_id, namespace, idx)
        )""",
    ],
    # 2: ``append`` as server-side functions: a step's commit is one round trip, and
    # appends made at once by one process share it (``_pg_functions``).
    [
        # The NOTIFY channel of a topic (``_pg_notify.channel_for`` computes the same).
        """CREATE FUNCTION {s}.channel(topic text) RETURNS text
            LANGUAGE sql STABLE PARALLEL SAFE
            AS $$ SELECT 'wdk_' || md5(convert_to('{name}/' || topic, 'UTF8')) $$""",
        APPEND_ONE_V2,
        APPEND_BATCH,
        # Claims read the pending rows (never leased, or released) in due order, and the
        # expired leases, each from an index holding only those rows: a scan of every row
        # in due order walked past all the leased ones, and the planner, seeing a small
        # table, often chose a sequential scan and a sort instead.
        "CREATE INDEX queue_pending ON {s}.queue (not_before, id) WHERE lease_until IS NULL",
        "CREATE INDEX queue_leased ON {s}.queue (lease_until) WHERE lease_until IS NOT NULL",
        "DROP INDEX {s}.queue_due",
    ],
    # 3: deploys. The code version a run is on and the run it was forked from, and
    # ``append_one`` keeping them and the blocked status (``_pg_functions``). Adding nullable
    # columns without a default rewrites nothing.
    [
        "ALTER TABLE {s}.runs ADD COLUMN deployment_id text, ADD COLUMN forked_from text",
        # For list_runs(deployment_id=...); runs on no deployment cost nothing. Claims by
        # deployment probe each candidate's run by its key instead (``_pg_queue``).
        """CREATE INDEX runs_deployment ON {s}.runs (deployment_id, created_at DESC, run_id DESC)
            WHERE deployment_id IS NOT NULL""",
        APPEND_ONE,
    ],
    # 4: crash recovery. Registered workers and their heartbeats: a worker whose process is
    # gone has its leases released at once instead of when they lapse.
    [
        """CREATE TABLE {s}.workers (
            worker_id text PRIMARY KEY,
            host text NOT NULL,
            pid integer NOT NULL,
            process text NOT NULL,
            started_at double precision NOT NULL,
            last_seen double precision NOT NULL
        )""",
    ],
    # 5: schedules (``wdk.schedule``): the definition and where its ticks stand
    # (``_pg_schedules``); a handful of rows.
    [
        """CREATE TABLE {s}.schedules (
            schedule_id text PRIMARY KEY,
            spec bytea NOT NULL,
            paused boolean NOT NULL DEFAULT false,
            last_fire double precision,
            next_fire double precision,
            buffered double precision,
            last_run_id text,
            updated_at double precision NOT NULL,
            version bigint NOT NULL DEFAULT 0
        )""",
    ],
    # 6: flow control (``_pg_flow``). Each run's place on its queue (all NULL for unqueued
    # runs, which no new index holds), queue definitions, and a trigger that NOTIFYs
    # ``admit`` when a queued run ends, so the admission loops hand its slot on at once.
    [
        """ALTER TABLE {s}.runs ADD COLUMN queue text, ADD COLUMN queue_key text,
            ADD COLUMN priority integer NOT NULL DEFAULT 0, ADD COLUMN dedupe_key text,
            ADD COLUMN debounce double precision, ADD COLUMN admit_at double precision,
            ADD COLUMN admitted_at double precision""",
        """CREATE INDEX runs_queue_waiting ON {s}.runs (queue, priority DESC, created_at, run_id)
            WHERE status = 'queued'""",
        """CREATE INDEX runs_queue_admit_at ON {s}.runs (queue, admit_at)
            WHERE status = 'queued' AND admit_at IS NOT NULL""",
        """CREATE INDEX runs_queue_active ON {s}.runs (queue, queue_key)
            WHERE queue IS NOT NULL AND status IN ('pending', 'running', 'blocked')""",
        """CREATE INDEX runs_queue_admitted ON {s}.runs (queue, admitted_at)
            WHERE admitted_at IS NOT NULL""",
        """CREATE UNIQUE INDEX runs_queue_dedupe ON {s}.runs (queue, dedupe_key)
            WHERE dedupe_key IS NOT NULL
                AND status IN ('queued', 'pending', 'running', 'blocked')""",
        # Recent claims of rate-limited step messages (by message kind; pruned as they age).
        "CREATE TABLE {s}.step_claims (kind text NOT NULL, at double precision NOT NULL)",
        "CREATE INDEX step_claims_kind ON {s}.step_claims (kind, at)",
        """CREATE TABLE {s}.queues (
            name text PRIMARY KEY,
            concurrency integer,
            per_key_concurrency integer,
            rate_limit integer,
            rate_period double precision,
            priority boolean NOT NULL,
            updated_at double precision NOT NULL
        )""",
        """CREATE FUNCTION {s}.queued_run_ended() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify({s}.channel('admit'), 'admit');
                RETURN NULL;
            END $$""",
        """CREATE TRIGGER runs_queued_run_ended AFTER UPDATE OF status ON {s}.runs
            FOR EACH ROW WHEN (NEW.queue IS NOT NULL
                AND NEW.status IN ('completed', 'failed', 'cancelled')
                AND OLD.status IS DISTINCT FROM NEW.status)
            EXECUTE FUNCTION {s}.queued_run_ended()""",
    ],
]


def quote_schema(schema: str) -> str:
    """Validate a schema name and return it as a quoted SQL identifier.

    Only plain identifiers (letters, digits, underscore; at most 63 bytes) are accepted, so the
    quoted name can be spliced into SQL text safely and prepared statements stay reusable.
    """
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid PostgreSQL schema name {schema!r}: use [A-Za-z_][A-Za-z0-9_]*")
    return f'"{schema}"'


async def migrate(conn: psycopg.AsyncConnection[object], schema: str) -> list[int]:
    """Bring ``schema`` up to the latest migration; return the versions applied now.

    ``conn`` must be in autocommit mode; each migration runs in its own transaction.
    """
    # One migrator at a time for the whole sequence (a session lock, released by the
    # finally or by the session's end): the first applies every missing version, the others
    # then find them all. Per-version locks let two processes split the versions.
    await conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        return await _apply_missing(conn, schema)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


async def _apply_missing(conn: psycopg.AsyncConnection[object], schema: str) -> list[int]:
    """The migrations ``schema`` lacks, each in its own transaction; the versions applied."""
    s = quote_schema(schema)
    applied: list[int] = []
    for version, statements in enumerate(MIGRATIONS, start=1):
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )"""
            )
            cur = await conn.execute(
                f"SELECT 1 FROM {s}.schema_migrations WHERE version = %s", (version,)
            )
            if await cur.fetchone() is not None:
                continue
            for statement in statements:
                await conn.execute(statement.format(s=s, name=schema))  # type: ignore[arg-type]
            await conn.execute(
                f"INSERT INTO {s}.schema_migrations (version) VALUES (%s)", (version,)
            )
            applied.append(version)
    return applied
