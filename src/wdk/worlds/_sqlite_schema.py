"""The SQLite world's schema and its hot-path SQL, kept apart from the connection logic.

Every statement is a constant string so that the sqlite3 module's statement cache prepares it
once per connection; ``?`` placeholders only, nothing interpolated from data.
"""

from __future__ import annotations

import functools
import zlib

__all__ = [
    "MIGRATIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "bucket",
    "claim_sql",
    "due_sql",
    "in_list",
    "message_ref",
]

SCHEMA_VERSION = 6

WORKERS_TABLE = """CREATE TABLE IF NOT EXISTS workers (
        worker_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        process TEXT NOT NULL,
        started_at REAL NOT NULL,
        last_seen REAL NOT NULL
    ) WITHOUT ROWID"""

_BASE_SCHEMA = (
    # The event log. seq is dense per run; dedup keys are unique per run when set.
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        correlation_id TEXT,
        data BLOB,
        dedup_key TEXT,
        created_at REAL NOT NULL,
        UNIQUE (run_id, seq)
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS events_dedup
        ON events (run_id, dedup_key) WHERE dedup_key IS NOT NULL""",
    # The runs view, maintained from run events inside the appending transaction.
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        completed_at REAL,
        input BLOB,
        output BLOB,
        error BLOB,
        deployment_id TEXT,
        forked_from TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at, run_id)",
    "CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, created_at, run_id)",
    "CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created_at, run_id)",
    # For list_runs(deployment_id=...) ("what is still on the old code?"); runs on no
    # deployment cost nothing. Claims by deployment do not use it (see claim_sql).
    """CREATE INDEX IF NOT EXISTS runs_deployment ON runs (deployment_id, created_at, run_id)
        WHERE deployment_id IS NOT NULL""",
    # Live hooks only: disposing one deletes its row, which frees the token.
    """CREATE TABLE IF NOT EXISTS hooks (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        metadata BLOB,
        kind TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (run_id, correlation_id)
    )""",
    # Live messages only (acked ones are deleted), so UNIQUE(key) is "one live message per
    # key". A message's id is (id, gen), see message_ref: AUTOINCREMENT never reuses an id,
    # and a row handed over to a new message (HAND_OVER) gets the next gen, so a stale ack
    # cannot hit a new message. lease_until = 0 and owner NULL when not leased; dirty =
    # earliest not_before asked for while leased (NULL: not dirty).
    """CREATE TABLE IF NOT EXISTS queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        run_id TEXT NOT NULL,
        payload BLOB,
        not_before REAL NOT NULL,
        lease_until REAL NOT NULL DEFAULT 0,
        owner TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0,
        dirty REAL,
        gen INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS queue_due ON queue (not_before)",
    "CREATE INDEX IF NOT EXISTS queue_run ON queue (run_id)",
    """CREATE TABLE IF NOT EXISTS streams (
        run_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        tail INTEGER NOT NULL,
        closed INTEGER NOT NULL,
        PRIMARY KEY (run_id, namespace)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS chunks (
        run_id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        idx INTEGER NOT NULL,
        data BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (run_id, namespace, idx)
    )""",
    # Registered workers and their last heartbeat (crash recovery: a worker whose process is
    # gone has its leases released at once instead of when they lapse).
    WORKERS_TABLE,
    # Cross-process change notification: each write transaction bumps the version of the
    # buckets its topics hash to (see bucket()). A few hundred tiny rows: one or two pages.
    """CREATE TABLE IF NOT EXISTS changes (
        bucket INTEGER PRIMARY KEY,
        version INTEGER NOT NULL
    )""",
    # Schedules: the definition (an opaque spec) and where its ticks stand; a handful of rows.
    """CREATE TABLE IF NOT EXISTS schedules (
        schedule_id TEXT PRIMARY KEY,
        spec BLOB NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        last_fire REAL,
        next_fire REAL,
        buffered REAL,
        last_run_id TEXT,
        updated_at REAL NOT NULL,
        version INTEGER NOT NULL DEFAULT 0
    )""",
)

#: Flow control (docs/flow-control.md): queue definitions, and each run's place on its queue.
#: Waiting runs are found by the partial index in admission order; slots are counted from the
#: unfinished admitted runs; the rate window from ``admitted_at``; dedupe keys are unique
#: among unfinished runs of a queue, enforced by the file. Unqueued runs (queue NULL) add
#: nothing to any of these indexes.
FLOW_SCHEMA = (
    "ALTER TABLE runs ADD COLUMN queue TEXT",
    "ALTER TABLE runs ADD COLUMN queue_key TEXT",
    "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE runs ADD COLUMN dedupe_key TEXT",
    "ALTER TABLE runs ADD COLUMN debounce REAL",
    "ALTER TABLE runs ADD COLUMN admit_at REAL",
    "ALTER TABLE runs ADD COLUMN admitted_at REAL",
    """CREATE INDEX IF NOT EXISTS runs_queue_waiting
        ON runs (queue, priority DESC, created_at, run_id) WHERE status = 'queued'""",
    # When the next delayed or debounced run may start: one probe, not a walk of the waiting.
    """CREATE INDEX IF NOT EXISTS runs_queue_admit_at ON runs (queue, admit_at)
        WHERE status = 'queued' AND admit_at IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS runs_queue_active ON runs (queue, queue_key)
        WHERE queue IS NOT NULL AND status IN ('pending', 'running', 'blocked')""",
    """CREATE INDEX IF NOT EXISTS runs_queue_admitted ON runs (queue, admitted_at)
        WHERE admitted_at IS NOT NULL""",
    """CREATE UNIQUE INDEX IF NOT EXISTS runs_queue_dedupe ON runs (queue, dedupe_key)
        WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'pending', 'running', 'blocked')""",
    # Recent claims of rate-limited step messages (by message kind; pruned as they age).
    "CREATE TABLE IF NOT EXISTS step_claims (kind TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS step_claims_kind ON step_claims (kind, at)",
    """CREATE TABLE IF NOT EXISTS queues (
        name TEXT PRIMARY KEY,
        concurrency INTEGER,
        per_key_concurrency INTEGER,
        rate_limit INTEGER,
        rate_period REAL,
        priority INTEGER NOT NULL,
        updated_at REAL NOT NULL
    )""",
)
SCHEMA = _BASE_SCHEMA + FLOW_SCHEMA

#: Statements that bring a file of an older schema version to the next one: a file at
#: version v runs MIGRATIONS[v + 1], ... up to SCHEMA_VERSION (a new file gets SCHEMA).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE queue ADD COLUMN gen INTEGER NOT NULL DEFAULT 0",),
    # Deploys: the code version a run is on, and the run it was forked from.
    3: (
        "ALTER TABLE runs ADD COLUMN deployment_id TEXT",
        "ALTER TABLE runs ADD COLUMN forked_from TEXT",
        """CREATE INDEX IF NOT EXISTS runs_deployment
            ON runs (deployment_id, created_at, run_id) WHERE deployment_id IS NOT NULL""",
    ),
    # Crash recovery: registered workers and their heartbeats.
    4: (WORKERS_TABLE,),
    # Schedules (``wdk.schedule``): one row per schedule id.
    5: (
        """CREATE TABLE IF NOT EXISTS schedules (
            schedule_id TEXT PRIMARY KEY,
            spec BLOB NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0,
            last_fire REAL,
            next_fire REAL,
            buffered REAL,
            last_run_id TEXT,
            updated_at REAL NOT NULL,
            version INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    # Flow control (queues, step limits).
    6: FLOW_SCHEMA,
}

#: A message id as the world hands it out is ``id + (gen << GEN_SHIFT)``: rowids below 2**44
#: (AUTOINCREMENT: decades of messages), generations up to GEN_MAX (a row that reached it
#: is deleted and a new one inserted instead), so an id stays below 2**53 and survives JSON
#: readers that parse numbers as doubles (``wdk inspect workers --json``).
GEN_SHIFT = 44
GEN_MAX = (1 << 9) - 1
_ROWID_MASK = (1 << GEN_SHIFT) - 1
#: the id of a queue row's message, in SQL
MESSAGE_ID = f"id + (gen << {GEN_SHIFT})"


def message_ref(message_id: int) -> tuple[int, int]:
    """(rowid, gen) of a message id handed out by the world."""
    return message_id & _ROWID_MASK, message_id >> GEN_SHIFT


#: How many notification buckets topics hash into. Collisions only cause spurious wake-ups.
BUCKETS = 512


def bucket(topic: str) -> int:
    """The notification bucket of a topic (stable across processes, unlike ``hash``)."""
    return zlib.crc32(topic.encode()) % BUCKETS


def in_list(n: int) -> str:
    """``(?, ?, ...)`` with ``n`` placeholders (at least one)."""
    return "(" + ", ".join("?" * max(n, 1)) + ")"


LAST_SEQ = "SELECT max(seq) FROM events WHERE run_id = ?"
INSERT_EVENT = (
    "INSERT INTO events (run_id, seq, type, correlation_id, data, dedup_key, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
#: Rows per multi-row event INSERT (one prepared statement per row count up to this).
EVENT_ROWS = 8


def insert_events(n: int) -> str:
    """``INSERT INTO events ...`` for ``n`` rows (1 <= n <= EVENT_ROWS).

    One statement per step commit instead of one per event.
    """
    return INSERT_EVENT + ", (?, ?, ?, ?, ?, ?, ?)" * (n - 1)


EVENT_TAKEN = "SELECT 1 FROM events WHERE run_id = ? AND (seq = ? OR dedup_key = ?)"
SELECT_EVENTS = (
    "SELECT seq, type, correlation_id, data, created_at FROM events"
    " WHERE run_id = ? AND seq > ? ORDER BY seq"
)
INSERT_RUN = (
    "INSERT OR IGNORE INTO runs"
    " (run_id, workflow_id, status, created_at, input, deployment_id, forked_from)"
    " VALUES (?, ?, 'pending', ?, ?, ?, ?)"
)
# Run events never change a terminal run; only run_unblocked (a retry) moves a blocked one
# back to running, so a run_started recorded late cannot hide a block.
START_RUN = (
    "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?)"
    " WHERE run_id = ? AND status IN ('pending', 'running')"
)
BLOCK_RUN = (
    "UPDATE runs SET status = 'blocked', error = ?"
    " WHERE run_id = ? AND status IN ('pending', 'running', 'blocked')"
)
UNBLOCK_RUN = (
    "UPDATE runs SET status = 'running', error = NULL"
    " WHERE run_id = ? AND status IN ('pending', 'running', 'blocked')"
)
ADOPT_RUN = (
    "UPDATE runs SET deployment_id = ?"
    " WHERE run_id = ? AND status IN ('pending', 'running', 'blocked')"
)
END_RUN = (
    "UPDATE runs SET status = ?, completed_at = ?, output = ?, error = ?"
    " WHERE run_id = ? AND status IN ('queued', 'pending', 'running', 'blocked')"
    " RETURNING queue"
)
RUN_COLUMNS = (
    "run_id, workflow_id, status, created_at, started_at, completed_at, input, output, error,"
    " deployment_id, forked_from, queue, queue_key, priority"
)
HOOK_COLUMNS = "run_id, correlation_id, token, metadata, kind, created_at"
HOOK_HOLDER = "SELECT run_id, correlation_id FROM hooks WHERE token = ?"
INSERT_HOOK = (
    "INSERT OR REPLACE INTO hooks (token, run_id, correlation_id, metadata, kind, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
DISPOSE_HOOK = "DELETE FROM hooks WHERE run_id = ? AND correlation_id = ?"
DISPOSE_RUN_HOOKS = "DELETE FROM hooks WHERE run_id = ?"
CLOSE_RUN_STREAMS = (
    "UPDATE streams SET closed = 1 WHERE run_id = ? AND closed = 0 RETURNING namespace"
)
DELETE_RUN_MESSAGES = "DELETE FROM queue WHERE run_id = ?"
# Upsert of one message; see SqliteWorld's docstring for the rules. In an UPDATE every
# right-hand side sees the old row, so the assignments do not depend on their order.
ENQUEUE = (
    """INSERT INTO queue (kind, run_id, key, payload, not_before, lease_until, owner,
        deliveries)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
        dirty = CASE WHEN owner IS NULL THEN NULL
            ELSE min(coalesce(dirty, excluded.not_before), excluded.not_before) END,
        not_before = CASE WHEN owner IS NULL THEN min(not_before, excluded.not_before)
            ELSE not_before END,
        lease_until = CASE WHEN owner IS NULL AND excluded.owner IS NOT NULL
            THEN excluded.lease_until ELSE lease_until END,
        deliveries = CASE WHEN owner IS NULL AND excluded.owner IS NOT NULL
            THEN deliveries + 1 ELSE deliveries END,
        owner = coalesce(owner, excluded.owner)
    RETURNING """
    + MESSAGE_ID
)
# A leased message acked and a new leased message enqueued in one append (a step recorded
# with the next step of its run) reuse the row: no delete, insert, AUTOINCREMENT or
# not_before/run_id index writes (an assigned column rewrites its index entries even when
# the value is unchanged, hence run_id in the WHERE, not the SET): four pages fewer per
# commit. The row's not_before stays (earlier than now: it only orders claims once the
# lease lapses). A taken key raises IntegrityError and the caller falls back to ack +
# ENQUEUE.
HAND_OVER = (
    """UPDATE queue SET key = ?, kind = ?, payload = ?, lease_until = ?, owner = ?,
        deliveries = 1, gen = gen + 1
    WHERE id = ? AND gen = ? AND run_id = ? AND dirty IS NULL AND owner IS NOT NULL
        AND gen < ?
    RETURNING """
    + MESSAGE_ID
)
ACK_DIRTY = (
    "UPDATE queue SET not_before = dirty, dirty = NULL, owner = NULL, lease_until = 0,"
    " deliveries = 0 WHERE id = ? AND gen = ? AND dirty IS NOT NULL"
)
ACK_DELETE = "DELETE FROM queue WHERE id = ? AND gen = ? AND dirty IS NULL"
MESSAGE_COLUMNS = (
    MESSAGE_ID + ", kind, run_id, key, payload, not_before, deliveries, lease_until, owner"
)
RELEASE = (
    "UPDATE queue SET owner = NULL, lease_until = 0, dirty = NULL,"
    " not_before = CASE WHEN dirty IS NULL THEN ? ELSE min(?, dirty) END"
    " WHERE id = ? AND gen = ?"
)
WORKER_COLUMNS = "worker_id, host, pid, process, started_at, last_seen"
HEARTBEAT = (
    "INSERT INTO workers (" + WORKER_COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
    " process = excluded.process, last_seen = excluded.last_seen"
)
FORGET_WORKER = "DELETE FROM workers WHERE worker_id = ? AND last_seen <= ?"
# A gone worker's messages: visible at once, under a new id (the next generation) so that
# the old holder's ack, release or extension finds nothing. Rows at their last generation
# are moved to new rows instead (RELEASE_OWNER_LAST). No index on owner: this scan of the
# live messages runs once per dead worker, an index would cost every claim a write.
RELEASE_OWNER = (
    "UPDATE queue SET owner = NULL, lease_until = 0, dirty = NULL, gen = gen + 1,"
    " not_before = CASE WHEN dirty IS NULL THEN not_before ELSE min(not_before, dirty) END"
    " WHERE owner = ? AND gen < ?"
)
RELEASE_OWNER_LAST = (
    "DELETE FROM queue WHERE owner = ?"
    " RETURNING key, kind, run_id, payload, min(not_before, coalesce(dirty, not_before)),"
    " deliveries"
)
REINSERT = (
    "INSERT INTO queue (key, kind, run_id, payload, not_before, deliveries)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
EXTEND = "UPDATE queue SET lease_until = ? WHERE id = ? AND gen = ? AND owner IS NOT NULL"
#: A queue row's run is on the deployment given (a PRIMARY KEY probe of runs per row).
_ON_DEPLOYMENT = (
    " AND EXISTS (SELECT 1 FROM runs WHERE runs.run_id = queue.run_id AND runs.deployment_id = ?)"
)


@functools.lru_cache(maxsize=64)
def claim_sql(n_kinds: int, by_deployment: bool = False) -> tuple[str, str]:
    """``(peek, take)`` of a claim of ``n_kinds`` kinds.

    ``peek`` finds the message (a plain read, so idle workers never take the write lock),
    ``take`` leases it. Parameters: ``(now, now, *kinds)`` for ``peek`` (then the deployment
    id ``by_deployment``), ``(owner, lease_until)`` before those for ``take``. The deployment
    filter is an EXISTS, not a join: a join lets the planner start from ``runs_deployment``,
    reading every run of the deployment (terminal ones too) and sorting; the EXISTS keeps the
    walk of ``queue_due`` in due order, probing each candidate's run by its key.
    """
    where = f"not_before <= ? AND lease_until <= ? AND kind IN {in_list(n_kinds)}"
    if by_deployment:
        where += _ON_DEPLOYMENT
    peek = f"SELECT id FROM queue WHERE {where} ORDER BY not_before, id LIMIT 1"
    take = (
        "UPDATE queue SET owner = ?, lease_until = ?, deliveries = deliveries + 1, dirty = NULL"
        f" WHERE id = ({peek}) RETURNING {MESSAGE_COLUMNS}"
    )
    return peek, take


@functools.lru_cache(maxsize=64)
def due_sql(n_kinds: int, by_deployment: bool = False) -> str:
    """``next_due`` of ``n_kinds`` kinds; parameters ``(now, *kinds)`` (then the deployment)."""
    sql = f"SELECT min(not_before) FROM queue WHERE lease_until <= ? AND kind IN {in_list(n_kinds)}"
    return sql + _ON_DEPLOYMENT if by_deployment else sql


BUMP = (
    "INSERT INTO changes (bucket, version) VALUES (?, 1)"
    " ON CONFLICT (bucket) DO UPDATE SET version = version + 1"
)
WRITE_CHUNK_TAIL = (
    "INSERT INTO streams (run_id, namespace, tail, closed) VALUES (?, ?, 0, 0)"
    " ON CONFLICT (run_id, namespace) DO UPDATE SET tail = tail + 1 WHERE closed = 0"
    " RETURNING tail"
)
INSERT_CHUNK = (
    "INSERT INTO chunks (run_id, namespace, idx, data, created_at) VALUES (?, ?, ?, ?, ?)"
)
CLOSE_STREAM = (
    "INSERT INTO streams (run_id, namespace, tail, closed) VALUES (?, ?, -1, 1)"
    " ON CONFLICT (run_id, namespace) DO UPDATE SET closed = 1"
)
