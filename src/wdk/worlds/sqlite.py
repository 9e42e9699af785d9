"""SqliteWorld: the embedded default world, one SQLite file shared by the processes of a machine.

Why it looks like this:

* **WAL, one writer connection per world instance, ``BEGIN IMMEDIATE`` for every write.** WAL
  lets readers in other processes go on while one process commits; ``BEGIN IMMEDIATE`` takes
  the write lock up front, so a writer waits in SQLite's busy handler (``busy_timeout``, 10 s by
  default) instead of failing with ``SQLITE_BUSY_SNAPSHOT`` half-way through a transaction.
* **Durability.** ``synchronous=FULL`` by default: every append is one fsync'd commit, the
  floor for "a recorded step survives a power cut". ``sqlite:///path?synchronous=normal`` opts
  into WAL's ``NORMAL``: commits survive a crash of the process but the last ones may be lost
  on power failure or an OS crash; it is several times faster on slow disks.
* **Blocking calls on the event loop, on purpose.** Each method runs its sqlite3 calls
  directly inside the coroutine: a commit costs tens of microseconds plus the fsync, while a
  hop to a worker thread costs more than that and reorders writes. The one connection is
  guarded by a ``threading.Lock`` (opened with ``check_same_thread=False``), so calling one
  world from several threads or event loops is safe too, just serialized.
* **Cheap per append.** Constant SQL strings (prepared once by the statement cache), one
  multi-row ``INSERT`` for the events (plus a ``SELECT max(seq)`` without ``expect_seq``), one
  upsert per enqueued message; the runs view, hooks, streams and queue side effects only for
  the event types that have them. What a commit costs beyond its fsync grows with the pages it
  dirties (each is a WAL frame: a checksum and two writes), so a step recorded together with
  its run's next step hands its leased queue row over to the next step (``HAND_OVER``) rather
  than deleting one row and inserting another. A message id carries the row's generation
  (:func:`~wdk.worlds._sqlite_schema.message_ref`), so an ack of the old id stays harmless.
* **Schema versions.** ``PRAGMA user_version`` holds the schema version; a file of an older
  version is migrated when opened (``MIGRATIONS``), one of a newer wdk refused.
* **Change notification without NOTIFY.** Within a process, every commit wakes the waiters on
  its topics at once through a :class:`~wdk.worlds._notify.ChangeHub` shared by all instances
  on the same file. Across processes, each write transaction also bumps a version counter in
  the ``changes`` table for every topic it touched (topics hash into 512 buckets), and a
  waiter polls ``PRAGMA data_version`` plus the sum of its buckets' versions: first after 2 ms,
  doubling to 50 ms while nothing happens anywhere, back to 2 ms after any foreign commit.
  ``data_version`` only moves on commits by *other* connections, so our own writes never cost
  a poll hit. A commit in another process is therefore seen within 50 ms at worst. ``run:<id>``
  topics (every step) are not bumped, as PostgreSQL does not NOTIFY them: they wake this
  process at once and other processes through the caller's timeout; every cross-process wait
  in wdk is on ``done:``, ``stream:`` or ``queue``.

Queue and run-view rules are the ones :class:`~wdk.worlds.memory.MemoryWorld` documents.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from wdk.errors import WorldError
from wdk.worlds import _sqlite_schema as q
from wdk.worlds._cursor import encode_cursor
from wdk.worlds._notify import ACTIVE, HIT, IDLE, ChangeHub
from wdk.worlds._sqlite_queues import SqliteQueues
from wdk.worlds._sqlite_schedules import SqliteSchedules
from wdk.worlds._sqlite_views import SPECIAL, apply_event, list_runs_sql
from wdk.worlds.base import (
    Appended,
    Chunk,
    DuplicateEvent,
    Event,
    EventType,
    HookInfo,
    Message,
    NewEvent,
    NewMessage,
    Page,
    RunInfo,
    StreamInfo,
    WorkerInfo,
)

__all__ = ["SqliteWorld"]

P = ParamSpec("P")
T = TypeVar("T")
_Conn = sqlite3.Connection

_SYNCHRONOUS = ("full", "normal", "extra")
_INSERT_EVENTS = {n: q.insert_events(n) for n in range(1, q.EVENT_ROWS + 1)}

_HUBS: dict[str, ChangeHub] = {}
_HUBS_LOCK = threading.Lock()


def _hub_for(path: str) -> ChangeHub:
    with _HUBS_LOCK:
        hub = _HUBS.get(path)
        if hub is None:
            hub = _HUBS[path] = ChangeHub()
        return hub


@functools.lru_cache(maxsize=64)
def _poll_sql(n_buckets: int) -> str:
    return (
        "SELECT (SELECT data_version FROM pragma_data_version),"
        f" (SELECT total(version) FROM changes WHERE bucket IN {q.in_list(n_buckets)})"
    )


def _message(row: tuple[Any, ...]) -> Message:
    return Message(*row)


class SqliteWorld(SqliteQueues, SqliteSchedules):
    """The World protocol on one SQLite file (see the module docstring for the design).

    Args:
        path: the database file; its parent directory is created on first use.
        synchronous: ``"full"`` (default, every commit fsync'd) or ``"normal"`` (WAL
            ``NORMAL``: durable against process crashes, not power loss) or ``"extra"``.
        clock: supplies every timestamp, ``not_before`` and lease (tests inject one).
        busy_timeout: seconds a writer waits for another process's write lock.
        url: what ``url`` reports (defaults to ``sqlite:///<path>``).
    """

    #: Cross-process poll interval bounds, in seconds (see the module docstring).
    POLL_MIN = 0.002
    POLL_MAX = 0.05

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "full",
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
        url: str | None = None,
    ) -> None:
        sync = synchronous.lower()
        if sync not in _SYNCHRONOUS:
            raise WorldError(
                f"sqlite synchronous={synchronous!r} is not one of {', '.join(_SYNCHRONOUS)}"
            )
        self.path = os.path.abspath(os.fspath(path))
        self.url = url or f"sqlite:///{self.path}"
        self.synchronous = sync
        self.busy_timeout = busy_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: _Conn | None = None
        self._closed = False
        self._hub = _hub_for(os.path.realpath(self.path))

    def __repr__(self) -> str:
        return f"SqliteWorld({self.url!r})"

    # -- connection ------------------------------------------------------------------
    def _connect(self) -> _Conn:
        """Open the connection (under ``self._lock``) and create the schema if missing."""
        if self._closed:
            raise WorldError(f"{self.url} is closed")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise WorldError(f"{self.path}: cannot switch to WAL (journal_mode={mode})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            if conn.execute("PRAGMA user_version").fetchone()[0] != q.SCHEMA_VERSION:
                self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise WorldError(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _migrate(self, conn: _Conn) -> None:
        """Create the schema in a new file, or bring an older file's up to date."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # others may have
            if version > q.SCHEMA_VERSION:
                raise WorldError(
                    f"{self.path} was written by a newer wdk (schema version {version}; this"
                    f" wdk knows up to {q.SCHEMA_VERSION}): upgrade wdk to open it"
                )
            if version == 0:
                statements: list[str] = list(q.SCHEMA)
            else:
                statements = [
                    sql for v in range(version + 1, q.SCHEMA_VERSION + 1) for sql in q.MIGRATIONS[v]
                ]
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {q.SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write(
        self,
        fn: Callable[Concatenate[_Conn, float, set[str], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, now, topics, ...)`` in one ``BEGIN IMMEDIATE`` transaction.

        ``fn`` adds the topics it touched; their buckets are bumped in the same transaction
        and their local waiters woken after the commit. Any exception rolls back everything.
        """
        return self._write_tx(fn, True, *args, **kwargs)

    def _write_light(
        self,
        fn: Callable[Concatenate[_Conn, float, set[str], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Like :meth:`_write`, without an fsync of its own.

        For queue bookkeeping, and appends marked ``durable=False`` (decisions replay
        re-derives).

        A claim, a lease extension, a release or a bare ack lost to a power cut only makes
        a message claimable again, which at-least-once delivery allows; the next durable
        commit syncs the WAL, earlier frames included. Saves one fsync per claimed message.
        """
        return self._write_tx(fn, False, *args, **kwargs)

    def _write_tx(
        self,
        fn: Callable[Concatenate[_Conn, float, set[str], P], T],
        durable: bool,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        topics: set[str] = set()
        relax = not durable and self.synchronous == "full"
        with self._lock:
            conn = self._conn or self._connect()
            try:
                if relax:
                    conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn, self._clock(), topics, *args, **kwargs)
                    shared = [(q.bucket(t),) for t in topics if not t.startswith("run:")]
                    if shared:
                        conn.executemany(q.BUMP, shared)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    if relax:
                        conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise WorldError(f"sqlite world {self.path}: {exc}") from exc
        if topics:
            self._hub.notify(topics)
        return result

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one read statement (its own implicit read transaction)."""
        with self._lock:
            conn = self._conn or self._connect()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise WorldError(f"sqlite world {self.path}: {exc}") from exc

    async def setup(self) -> None:
        """Open the file, switch it to WAL and create the schema. Idempotent, multi-process safe."""
        with self._lock:
            if self._conn is None:
                self._connect()

    async def close(self) -> None:
        """Close the connection; the world is unusable afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- event log -------------------------------------------------------------------
    async def append(
        self,
        run_id: str,
        events: Sequence[NewEvent],
        *,
        enqueue: Sequence[NewMessage] = (),
        ack: Sequence[int] = (),
        expect_seq: int | None = None,
        durable: bool = True,
    ) -> Appended:
        """Append events, then ack, then enqueue, in one transaction (fsync'd if durable)."""
        return self.append_blocking(
            run_id, events, enqueue=enqueue, ack=ack, expect_seq=expect_seq, durable=durable
        )

    def append_blocking(
        self,
        run_id: str,
        events: Sequence[NewEvent],
        *,
        enqueue: Sequence[NewMessage] = (),
        ack: Sequence[int] = (),
        expect_seq: int | None = None,
        durable: bool = True,
    ) -> Appended:
        """:meth:`append` from any thread (the connection is shared under a lock)."""
        return self._write_tx(self._tx_append, durable, run_id, events, enqueue, ack, expect_seq)

    def _tx_append(
        self,
        conn: _Conn,
        now: float,
        topics: set[str],
        run_id: str,
        events: Sequence[NewEvent],
        enqueue: Sequence[NewMessage],
        ack: Sequence[int],
        expect_seq: int | None,
    ) -> Appended:
        if expect_seq is not None and events:
            # No max(seq) read on the hot path: if anything was appended since expect_seq,
            # inserting seq expect_seq + 1 breaks UNIQUE (run_id, seq).
            try:
                last = self._insert_events(conn, now, topics, run_id, expect_seq, events)
            except DuplicateEvent:
                if conn.execute(q.LAST_SEQ, (run_id,)).fetchone()[0] != expect_seq:
                    raise DuplicateEvent(run_id, "seq") from None
                raise
        else:
            last = conn.execute(q.LAST_SEQ, (run_id,)).fetchone()[0] or 0
            if expect_seq is not None and last != expect_seq:
                raise DuplicateEvent(run_id, "seq")
            last = self._insert_events(conn, now, topics, run_id, last, events)
        if len(ack) == 1 and enqueue:
            handed = self._tx_hand_over(conn, now, topics, ack[0], enqueue)
            if handed is not None:
                return Appended(last, handed)
        if ack:
            self._tx_ack(conn, now, topics, ack)
        return Appended(last, self._tx_enqueue(conn, now, topics, enqueue) if enqueue else ())

    def _tx_hand_over(
        self, conn: _Conn, now: float, topics: set[str], acked: int, enqueue: Sequence[NewMessage]
    ) -> tuple[int, ...] | None:
        """Ack ``acked`` by turning its row into the first of ``enqueue`` (see q.HAND_OVER).

        For a leased message acked with a leased message of its run enqueued: a step recorded
        with its run's next step. Returns the ids of ``enqueue``, or None, having written
        nothing, when the row cannot be reused.
        """
        first = enqueue[0]
        if first.lease_to is None or first.not_before:
            return None
        try:
            rows = conn.execute(
                q.HAND_OVER,
                (
                    first.key,
                    first.kind,
                    first.payload,
                    now + first.lease_s,
                    first.lease_to,
                    *q.message_ref(acked),
                    first.run_id,
                    q.GEN_MAX,
                ),
            ).fetchall()
        except sqlite3.IntegrityError:
            return None  # the key is taken: the upsert's rules apply
        if not rows:
            return None  # unknown, of another run, dirty, not leased, at its last generation
        rest = self._tx_enqueue(conn, now, topics, enqueue[1:]) if len(enqueue) > 1 else ()
        return (rows[0][0], *rest)

    def _insert_events(
        self,
        conn: _Conn,
        now: float,
        topics: set[str],
        run_id: str,
        last: int,
        events: Sequence[NewEvent],
    ) -> int:
        topics.add("run:" + run_id)
        if any(ev.type in EventType.RUN_TERMINAL for ev in events):
            topics.add("done:" + run_id)
        execute = conn.execute
        for start in range(0, len(events), q.EVENT_ROWS):
            chunk = events[start : start + q.EVENT_ROWS]
            rows: list[Any] = []
            for ev in chunk:
                last += 1
                rows += (run_id, last, ev.type, ev.correlation_id, ev.data, ev.dedup_key, now)
            try:
                execute(_INSERT_EVENTS[len(chunk)], rows)
            except sqlite3.IntegrityError:
                # The statement inserted nothing; say which event broke a unique key.
                raise self._duplicate(conn, run_id, last - len(chunk), chunk) from None
            for ev in chunk:
                if ev.type in SPECIAL:
                    apply_event(conn, now, topics, run_id, ev)
        return last

    @staticmethod
    def _duplicate(
        conn: _Conn, run_id: str, before: int, events: Sequence[NewEvent]
    ) -> DuplicateEvent:
        """The DuplicateEvent for a multi-row insert that broke a unique key.

        The insert wrote nothing: the culprit is a seq or dedup key already stored, or one
        repeated within ``events``.
        """
        keys: set[str] = set()
        for seq, ev in enumerate(events, before + 1):
            key = ev.dedup_key
            if key in keys or conn.execute(q.EVENT_TAKEN, (run_id, seq, key)).fetchone():
                return DuplicateEvent(run_id, key or "seq")
            if key is not None:
                keys.add(key)
        return DuplicateEvent(run_id, "seq")

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """Events of a run with ``seq > after_seq``, in seq order."""
        rows = self._query(q.SELECT_EVENTS, (run_id, after_seq))
        return [Event(run_id, *row) for row in rows]

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run view, or None when no run has the id."""
        rows = self._query(f"SELECT {q.RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return RunInfo(*rows[0]) if rows else None

    async def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
        id_prefix: str | None = None,
        deployment_id: str | None = None,
    ) -> Page:
        """Runs newest first (``created_at`` then id, both descending), cursor-paged.

        ``id_prefix`` keeps the ids starting with it, ``deployment_id`` the runs on it.
        """
        limit = max(limit, 0)
        sql, params = list_runs_sql(
            workflow_id=workflow_id,
            status=status,
            cursor=cursor,
            id_prefix=id_prefix,
            deployment_id=deployment_id,
            limit=limit + 1,
        )
        rows = self._query(sql, params)
        runs = [RunInfo(*row) for row in rows[:limit]]
        more = len(rows) > limit and runs
        return Page(runs, encode_cursor(runs[-1].created_at, runs[-1].run_id) if more else None)

    # -- hooks -----------------------------------------------------------------------
    async def get_hook_by_token(self, token: str) -> HookInfo | None:
        """The live hook holding ``token``, or None."""
        rows = self._query(f"SELECT {q.HOOK_COLUMNS} FROM hooks WHERE token = ?", (token,))
        return HookInfo(*rows[0]) if rows else None

    async def list_hooks(self, run_id: str | None = None) -> list[HookInfo]:
        """Live hooks, optionally of one run, oldest first."""
        if run_id is None:
            rows = self._query(f"SELECT {q.HOOK_COLUMNS} FROM hooks ORDER BY created_at, id")
        else:
            sql = f"SELECT {q.HOOK_COLUMNS} FROM hooks WHERE run_id = ? ORDER BY created_at, id"
            rows = self._query(sql, (run_id,))
        return [HookInfo(*row) for row in rows]

    async def deliver_hook(
        self, token: str, events: Sequence[NewEvent], *, enqueue: Sequence[NewMessage] = ()
    ) -> HookInfo | None:
        """Atomically find the live hook for ``token`` and append ``events`` to its run."""
        return self._write(self._tx_deliver, token, events, enqueue)

    def _tx_deliver(
        self,
        conn: _Conn,
        now: float,
        topics: set[str],
        token: str,
        events: Sequence[NewEvent],
        enqueue: Sequence[NewMessage],
    ) -> HookInfo | None:
        row = conn.execute(f"SELECT {q.HOOK_COLUMNS} FROM hooks WHERE token = ?", (token,))
        found = row.fetchone()
        if found is None:
            return None
        hook = HookInfo(*found)
        last: int = conn.execute(q.LAST_SEQ, (hook.run_id,)).fetchone()[0] or 0
        self._insert_events(conn, now, topics, hook.run_id, last, events)
        if enqueue:
            self._tx_enqueue(conn, now, topics, enqueue)
        return hook

    # -- queue -----------------------------------------------------------------------
    @staticmethod
    def _tx_enqueue(
        conn: _Conn, now: float, topics: set[str], messages: Sequence[NewMessage]
    ) -> tuple[int, ...]:
        ids = []
        wake = False
        for m in messages:
            leased = m.lease_to is not None
            row = conn.execute(
                q.ENQUEUE,
                (
                    m.kind,
                    m.run_id,
                    m.key,
                    m.payload,
                    m.not_before or now,
                    now + m.lease_s if leased else 0.0,
                    m.lease_to,
                    1 if leased else 0,
                ),
            ).fetchone()
            ids.append(row[0])
            # A message leased to its creator (inline execution) is nobody else's business:
            # waking every idle worker for it costs a round of empty claims per step.
            wake = wake or not leased
        if wake:
            topics.add("queue")
        return tuple(ids)

    @staticmethod
    def _tx_ack(conn: _Conn, now: float, topics: set[str], message_ids: Sequence[int]) -> None:
        ids = [q.message_ref(i) for i in message_ids]
        # Delete first: re-showing clears the dirty mark. Only a message that was not
        # deleted (dirty, or unknown) needs the second statement.
        if conn.executemany(q.ACK_DELETE, ids).rowcount == len(ids):
            return
        if conn.executemany(q.ACK_DIRTY, ids).rowcount > 0:
            topics.add("queue")

    async def enqueue(self, messages: Sequence[NewMessage]) -> None:
        """Enqueue outside an append (same idempotency rules)."""
        if messages:
            self._write(self._tx_enqueue, messages)

    async def claim(
        self,
        kinds: Sequence[str],
        *,
        worker_id: str,
        lease_s: float,
        deployment_id: str | None = None,
    ) -> Message | None:
        """Lease the visible message with the earliest ``not_before`` (then lowest id).

        A plain read looks first, so idle workers never take the write lock. With
        ``deployment_id``, only messages of runs on that deployment.
        """
        if not kinds:
            return None
        now = self._clock()
        if deployment_id is None:
            peek, take = q.claim_sql(len(kinds))
            where: tuple[Any, ...] = (now, now, *kinds)
        else:
            peek, take = q.claim_sql(len(kinds), True)
            where = (now, now, *kinds, deployment_id)
        if not self._query(peek, where):
            return None
        return self._write_light(self._tx_claim, take, where[2:], worker_id, lease_s)

    @staticmethod
    def _tx_claim(
        conn: _Conn,
        now: float,
        topics: set[str],
        take: str,
        filters: tuple[Any, ...],
        worker_id: str,
        lease_s: float,
    ) -> Message | None:
        """Run ``take`` (see ``q.claim_sql``); ``filters``: its parameters after the times."""
        rows = conn.execute(take, (worker_id, now + lease_s, now, now, *filters)).fetchall()
        return _message(rows[0]) if rows else None

    async def ack(self, message_ids: Sequence[int]) -> None:
        """Delete these messages, or re-show the dirty ones. Unknown ids are ignored."""
        self.ack_blocking(message_ids)

    def ack_blocking(self, message_ids: Sequence[int]) -> None:
        """:meth:`ack` from any thread."""
        if message_ids:
            self._write_light(self._tx_ack, message_ids)

    async def release(self, message_id: int, *, not_before: float) -> None:
        """Unlease; visible again at ``not_before`` (earlier if it was dirty earlier)."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> None:
            conn.execute(q.RELEASE, (not_before, not_before, *q.message_ref(message_id)))
            topics.add("queue")

        self._write_light(tx)

    async def extend_lease(self, message_id: int, *, lease_s: float) -> bool:
        """Push the lease out; False if the message is gone or not leased."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> bool:
            return conn.execute(q.EXTEND, (now + lease_s, *q.message_ref(message_id))).rowcount > 0

        return self._write_light(tx)

    async def get_message(self, key: str) -> Message | None:
        """The live message with idempotency key ``key``, or None."""
        rows = self._query(f"SELECT {q.MESSAGE_COLUMNS} FROM queue WHERE key = ?", (key,))
        return _message(rows[0]) if rows else None

    async def next_due(
        self, kinds: Sequence[str], *, deployment_id: str | None = None
    ) -> float | None:
        """Earliest ``not_before`` among messages not under a current lease.

        With ``deployment_id``, only messages of runs on that deployment.
        """
        if not kinds:
            return None
        if deployment_id is None:
            rows = self._query(q.due_sql(len(kinds)), (self._clock(), *kinds))
        else:
            sql = q.due_sql(len(kinds), True)
            rows = self._query(sql, (self._clock(), *kinds, deployment_id))
        due: float | None = rows[0][0]
        return due

    async def list_leases(self) -> list[Message]:
        """Messages under a current lease, oldest (lowest id) first."""
        rows = self._query(
            f"SELECT {q.MESSAGE_COLUMNS} FROM queue"
            " WHERE owner IS NOT NULL AND lease_until > ? ORDER BY id",
            (self._clock(),),
        )
        return [_message(row) for row in rows]

    # -- workers ---------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Register ``worker`` or refresh its ``last_seen`` (no fsync: see _write_light)."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> None:
            w = worker
            conn.execute(q.HEARTBEAT, (w.worker_id, w.host, w.pid, w.process, now, now))

        self._write_light(tx)

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, ordered by ``worker_id``."""
        rows = self._query(f"SELECT {q.WORKER_COLUMNS} FROM workers ORDER BY worker_id")
        return [WorkerInfo(*row) for row in rows]

    async def release_worker(self, worker_id: str, *, last_seen: float) -> int | None:
        """Forget a gone worker and give back its messages under new ids (see World)."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> int | None:
            if not conn.execute(q.FORGET_WORKER, (worker_id, last_seen)).rowcount:
                return None
            count: int = conn.execute(q.RELEASE_OWNER, (worker_id, q.GEN_MAX)).rowcount
            moved = conn.execute(q.RELEASE_OWNER_LAST, (worker_id,)).fetchall()
            conn.executemany(q.REINSERT, moved)
            if count or moved:
                topics.add("queue")
            return count + len(moved)

        return self._write_light(tx)  # lost to a power cut, the leases lapse as before

    # -- streams ---------------------------------------------------------------------
    async def write_chunk(self, run_id: str, namespace: str, data: bytes) -> int:
        """Append a chunk; returns its index. Raises WorldError if the stream is closed."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> int:
            rows = conn.execute(q.WRITE_CHUNK_TAIL, (run_id, namespace)).fetchall()
            if not rows:
                raise WorldError(f"stream {namespace!r} of run {run_id} is closed")
            index: int = rows[0][0]
            conn.execute(q.INSERT_CHUNK, (run_id, namespace, index, data, now))
            topics.add(f"stream:{run_id}:{namespace}")
            return index

        return self._write(tx)

    async def close_stream(self, run_id: str, namespace: str) -> None:
        """Mark the stream closed (idempotent). An unknown stream is created closed."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> None:
            conn.execute(q.CLOSE_STREAM, (run_id, namespace))
            topics.add(f"stream:{run_id}:{namespace}")

        self._write(tx)

    async def read_chunks(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> list[Chunk]:
        """Chunks with ``index >= start``, in order, at most ``limit``."""
        rows = self._query(
            "SELECT idx, data, created_at FROM chunks"
            " WHERE run_id = ? AND namespace = ? AND idx >= ? ORDER BY idx LIMIT ?",
            (run_id, namespace, start, max(limit, 0)),
        )
        return [Chunk(*row) for row in rows]

    async def stream_info(self, run_id: str, namespace: str) -> StreamInfo:
        """Tail index and closed flag; ``StreamInfo()`` for an unknown stream."""
        rows = self._query(
            "SELECT tail, closed FROM streams WHERE run_id = ? AND namespace = ?",
            (run_id, namespace),
        )
        return StreamInfo(rows[0][0], bool(rows[0][1])) if rows else StreamInfo()

    async def list_streams(self, run_id: str) -> list[str]:
        """Namespaces with a stream in this run, sorted."""
        rows = self._query(
            "SELECT namespace FROM streams WHERE run_id = ? ORDER BY namespace", (run_id,)
        )
        return [ns for (ns,) in rows]

    # -- change notification ---------------------------------------------------------
    async def wait_for_change(self, topics: Sequence[str], timeout: float) -> bool:
        """Sleep until a commit touches one of ``topics`` or ``timeout`` seconds pass.

        Local commits wake at once; other processes' commits are polled (module docstring).
        """
        waiter = self._hub.register(topics)
        try:
            if not topics:
                return await waiter.wait(timeout)
            buckets = sorted({q.bucket(t) for t in topics})
            sql = _poll_sql(len(buckets))
            ((version, seen),) = self._query(sql, buckets)

            def poll() -> int:
                nonlocal version
                try:
                    ((now_version, now_seen),) = self._query(sql, buckets)
                except WorldError:
                    return HIT  # closed meanwhile: let the caller find out
                if now_seen != seen:
                    return HIT
                if now_version != version:
                    version = now_version
                    return ACTIVE
                return IDLE

            return await waiter.wait(timeout, poll, poll_min=self.POLL_MIN, poll_max=self.POLL_MAX)
        finally:
            self._hub.unregister(waiter)
