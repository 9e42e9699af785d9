"""The PostgreSQL world: many workers on many machines, one database.

Everything durable lives in one schema (``wdk`` unless told otherwise): the event log, the
runs view, live hooks, the queue and streams. The tables, and how each rule of the World
protocol maps onto a database guarantee, are described where the SQL lives:

* ``_pg_migrations``: versioned, idempotent migrations serialised by an advisory lock.
* ``_pg_functions``: ``append`` as PL/pgSQL (migration 2): dense per-run seqs (a locked counter
  row), exactly-once recording (a unique index on ``(run_id, dedup_key)``), the runs view,
  live-hook tokens (a partial unique index), acks and enqueues, all in one statement.
* ``_pg_log``: turns appends into that function's JSON requests and its answers back.
* ``_group_commit``: appends made while one is in flight share the next statement (one round
  trip and one WAL flush for all), each still all-or-nothing on its own.
* ``_pg_queue``: ``FOR UPDATE SKIP LOCKED`` claims over partial indexes, leases, dirty re-shows,
  idempotency keys; claims by deployment.
* ``_pg_runs``: reads of the runs view (an id prefix as a key range where the collation allows).
* ``_pg_notify``: LISTEN/NOTIFY fanned out to local waiters, with a slow fallback poll.

Time: every timestamp and every lease or visibility comparison uses the world's ``clock``
(``time.time`` unless injected), passed to SQL as a parameter, never ``now()``; so a test can
move time forward without sleeping, and all rows agree on one notion of time.

Choosing the schema: the ``schema=`` argument wins, then a ``?schema=name`` query parameter of
the URL, then ``wdk``. The parameter is removed before the URL reaches libpq.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from wdk.errors import WorldError
from wdk.worlds._flow import FlowStart, QueueSpec
from wdk.worlds._group_commit import GroupCommit
from wdk.worlds._pg_flow import FlowSQL
from wdk.worlds._pg_log import LogSQL, Outcome, encode_request
from wdk.worlds._pg_migrations import migrate, quote_schema
from wdk.worlds._pg_notify import Listener, Notifier, channel_for
from wdk.worlds._pg_queue import QueueSQL
from wdk.worlds._pg_runs import RunsSQL, sorts_by_code_point
from wdk.worlds._pg_schedules import PgSchedules
from wdk.worlds.base import (
    Appended,
    Chunk,
    DuplicateEvent,
    Event,
    HookInfo,
    Message,
    NewEvent,
    NewMessage,
    Page,
    QueuedStart,
    RunInfo,
    StreamInfo,
    TokenConflict,
    WorkerInfo,
)

__all__ = ["PostgresWorld", "parse_url"]

_Conn = psycopg.AsyncConnection[Any]

_HOOK_COLUMNS = "run_id, correlation_id, token, metadata, kind, created_at"


def parse_url(url: str) -> tuple[str, str | None]:
    """Split a world URL into a libpq connection URL and the ``schema`` query parameter."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise WorldError(f"not a PostgreSQL URL: {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def _b(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


def _hook(row: tuple[Any, ...]) -> HookInfo:
    run_id, cid, token, metadata, kind, created = row
    return HookInfo(run_id, cid, token, _b(metadata), kind, created)


class PostgresWorld(PgSchedules):
    """A :class:`~wdk.worlds.base.World` on PostgreSQL (psycopg 3, async, pooled).

    Args:
        url: ``postgresql://user@host:port/db`` (``?schema=name`` allowed).
        schema: the schema holding wdk's tables; wins over the URL's ``schema`` parameter.
        clock: epoch seconds; used for every timestamp, lease and visibility decision.
        pool_min: connections kept open.
        pool_max: connections at most.
        poll_interval: the fallback poll of :meth:`wait_for_change`, covering notifications
            missed across processes (a waiter never sleeps longer than this in one go).
        append_batches: appends in flight at once; appends made meanwhile wait and go
            together in the next one (group commit).
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        clock: Callable[[], float] = time.time,
        pool_min: int = 1,
        pool_max: int = 10,
        poll_interval: float = 1.0,
        append_batches: int = 1,
    ) -> None:
        self.url = url
        self._conninfo, url_schema = parse_url(url)
        self.schema = schema or url_schema or "wdk"
        self._s = quote_schema(self.schema)
        self._clock = clock
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._poll = poll_interval
        self._pool: AsyncConnectionPool[_Conn] | None = None
        self._setup_lock = anyio.Lock()
        self._migrated = False
        self._closed = False
        self._durable_level: str | None = None
        self._log = LogSQL(self._s)
        self._appends: GroupCommit[tuple[dict[str, Any], bool], Outcome] = GroupCommit(
            self._send_appends, max_in_flight=append_batches
        )
        self._queue = QueueSQL(self._s, channel_for(self.schema, "queue"))
        self._runs = RunsSQL(self._s)
        self._flow = FlowSQL(self._s, self.schema)
        self._notifier = Notifier()
        self._listener = Listener(self._conninfo, self.schema, self._notifier)

    def __repr__(self) -> str:
        return f"PostgresWorld({self.url!r}, schema={self.schema!r})"

    # -- lifecycle -------------------------------------------------------------------
    async def setup(self) -> None:
        """Open the pool and migrate the schema. Idempotent; safe from many processes.

        Other methods call it on first use, so an explicit call is optional.
        """
        async with self._setup_lock:
            if self._closed:
                raise WorldError("this PostgresWorld is closed")
            if not self._migrated:
                # A connection of its own: an unreachable server fails here at once, where
                # the pool would keep retrying until its timeout.
                try:
                    conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                except psycopg.OperationalError as exc:
                    raise WorldError(f"cannot connect to PostgreSQL at {self.url}: {exc}") from exc
                async with conn:
                    await migrate(conn, self.schema)
                    self._runs.code_point_ids = await sorts_by_code_point(conn)
                self._migrated = True
            if self._pool is None:
                self._pool = await self._open_pool()

    async def _open_pool(self) -> AsyncConnectionPool[_Conn]:
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._pool_min,
            max_size=self._pool_max,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name=f"wdk-{self.schema}",
        )
        try:
            await pool.open(wait=True, timeout=10.0)
        except Exception as exc:
            await pool.close()
            raise WorldError(f"cannot connect to PostgreSQL at {self.url}: {exc}") from exc
        return pool

    async def _configure(self, conn: _Conn) -> None:
        """A new pool connection commits without waiting for the WAL flush, by default.

        Claims, lease extensions, releases and bare acks lost to a server crash only make a
        message claimable again, which at-least-once delivery allows, and the next durable
        commit flushes them anyway (the WAL is one sequence). What must be durable says so:
        appends commit at the server's own level, read here before it is overridden.
        """
        if self._durable_level is None:
            cur = await conn.execute("SHOW synchronous_commit")
            row = await cur.fetchone()
            self._durable_level = str(row[0]) if row else "on"
        await conn.execute("SET synchronous_commit = off")

    def _sync(self, durable: bool) -> str:
        """The ``synchronous_commit`` level of a commit that must (or need not) be durable."""
        return (self._durable_level or "on") if durable else "off"

    async def close(self) -> None:
        """Stop listening and close every connection. The world is unusable afterwards."""
        self._closed = True
        await self._listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def drop_schema(self) -> None:
        """Drop the whole schema with everything in it (tests; irreversible).

        Works before or after :meth:`close`: it uses a connection of its own.
        """
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as c:
            await c.execute(f"DROP SCHEMA IF EXISTS {self._s} CASCADE")  # type: ignore[arg-type]

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[_Conn]:
        if not self._migrated:
            await self.setup()
        if self._pool is None:
            raise WorldError("this PostgresWorld is closed")
        async with self._pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def _tx(self, topics: set[str]) -> AsyncIterator[_Conn]:
        """A durable transaction that NOTIFYs ``topics`` (filled in by the body) as it commits.

        The commit level is read at COMMIT, so it is set by the last statement, together with
        the NOTIFYs: no round trip of its own.
        """
        async with self._conn() as conn, conn.transaction():
            yield conn
            ordered = sorted(topics)
            await conn.execute(
                """SELECT set_config('synchronous_commit', %s, true), (
                    SELECT count(pg_notify(c, t))
                    FROM unnest(%s::text[], %s::text[]) AS x(c, t))""",
                (self._sync(True), [channel_for(self.schema, t) for t in ordered], ordered),
            )
        self._notifier.fire(topics)

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
        """Append events, ack and enqueue messages atomically (see ``World``).

        One statement: the schema's ``append_batch`` function does it all. Appends made
        while another is in flight share the next statement (group commit), each still
        all-or-nothing on its own. ``durable=False`` commits with ``synchronous_commit =
        off`` (no wait for the WAL flush; a crash of the server may lose it, never half of
        it) unless it shares a commit with a durable append.
        """
        request = encode_request(
            run_id, events, enqueue=enqueue, ack=ack, expect_seq=expect_seq, now=self._clock()
        )
        outcome = await self._appends.submit((request, durable))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _send_appends(
        self, batch: Sequence[tuple[dict[str, Any], bool]]
    ) -> list[Outcome | BaseException]:
        """One round trip for a batch of appends (group commit's ``send``).

        The batch goes in run id order, so two batches lock the runs they share in the same
        order and cannot deadlock on them (a stable sort keeps one run's appends in order).
        """
        order = sorted(range(len(batch)), key=lambda i: batch[i][0]["r"])
        requests = [batch[i][0] for i in order]
        durable = any(d for _, d in batch)
        try:
            async with self._conn() as conn:
                sent, topics = await self._log.append_batch(
                    conn, requests, synchronous_commit=self._sync(durable), now=self._clock()
                )
        except (DuplicateEvent, TokenConflict) as exc:
            return [exc]
        except psycopg.Error as exc:
            if len(batch) == 1:
                why = exc.diag.message_primary or str(exc)
                if exc.diag.message_detail:
                    why += f" ({exc.diag.message_detail})"
                raise WorldError(
                    f"PostgreSQL world {self.url}: the append to run {requests[0]['r']!r}"
                    f" failed: {why}"
                ) from exc
            # A deadlock between batches, or one request the server refused: every
            # request on its own, so one failure fails one append.
            return [await self._send_alone(item) for item in batch]
        self._fire(requests, topics)
        outcomes: list[Outcome | BaseException] = [None] * len(batch)  # type: ignore[list-item]
        for i, outcome in zip(order, sent, strict=True):
            outcomes[i] = outcome
        return outcomes

    async def _send_alone(self, item: tuple[dict[str, Any], bool]) -> Outcome | BaseException:
        try:
            return (await self._send_appends([item]))[0]
        except Exception as exc:  # noqa: BLE001 - this append's own error
            return exc

    def _fire(self, requests: Sequence[dict[str, Any]], topics: list[str]) -> None:
        """Wake this process's waiters of committed appends (others got the NOTIFYs).

        ``run:<id>`` is never NOTIFYed: a transaction that NOTIFYs takes a cluster-wide lock
        through its commit, so one NOTIFY per step would serialize every worker's steps.
        Other processes see it through their fallback poll.
        """
        topics.extend(f"run:{r['r']}" for r in requests if r["e"])
        self._notifier.fire(topics)

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """Events of a run with ``seq > after_seq``, in seq order."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"""SELECT run_id, seq, type, correlation_id, data, created_at
                FROM {self._s}.events WHERE run_id = %s AND seq > %s ORDER BY seq""",
                (run_id, after_seq),
            )
            rows = await cur.fetchall()
        return [Event(r[0], r[1], r[2], r[3], _b(r[4]), r[5]) for r in rows]

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run view, or None."""
        async with self._conn() as conn:
            return await self._runs.get(conn, run_id)

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
        """Runs newest first (``created_at`` then id), filtered, paged by an opaque cursor.

        ``id_prefix`` keeps the ids starting with it, ``deployment_id`` the runs on it.
        """
        async with self._conn() as conn:
            return await self._runs.page(
                conn,
                workflow_id=workflow_id,
                status=status,
                limit=limit,
                cursor=cursor,
                id_prefix=id_prefix,
                deployment_id=deployment_id,
            )

    # -- hooks -----------------------------------------------------------------------
    async def get_hook_by_token(self, token: str) -> HookInfo | None:
        """The live hook holding ``token``, or None."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"""SELECT {_HOOK_COLUMNS} FROM {self._s}.hooks
                WHERE token = %s AND disposed_at IS NULL""",
                (token,),
            )
            row = await cur.fetchone()
        return _hook(row) if row else None

    async def list_hooks(self, run_id: str | None = None) -> list[HookInfo]:
        """Live hooks, optionally of one run, oldest first."""
        sql = f"SELECT {_HOOK_COLUMNS} FROM {self._s}.hooks WHERE disposed_at IS NULL"
        params: tuple[Any, ...] = ()
        if run_id is not None:
            sql += " AND run_id = %s"
            params = (run_id,)
        async with self._conn() as conn:
            cur = await conn.execute(sql + " ORDER BY created_at, id", params)  # type: ignore[arg-type]
            rows = await cur.fetchall()
        return [_hook(r) for r in rows]

    async def deliver_hook(
        self, token: str, events: Sequence[NewEvent], *, enqueue: Sequence[NewMessage] = ()
    ) -> HookInfo | None:
        """Atomically find the live hook for ``token`` and append ``events`` to its run.

        Locks are taken in the same order as ``append`` (the run's seq row, then hooks), so a
        delivery racing the run's end cannot deadlock: the hook is looked up, its run locked,
        and the hook looked up again under that lock, where a committed end or dispose is
        visible and no new one can start.
        """
        sql = (
            f"SELECT {_HOOK_COLUMNS} FROM {self._s}.hooks WHERE token = %s AND disposed_at IS NULL"
        )
        async with self._conn() as conn:
            async with conn.transaction():
                locked: str | None = None
                while True:
                    cur = await conn.execute(sql, (token,))  # type: ignore[arg-type]
                    row = await cur.fetchone()
                    if row is None:
                        return None
                    hook = _hook(row)
                    if hook.run_id == locked:
                        break
                    await self._log.lock_run(conn, hook.run_id)
                    locked = hook.run_id
                now = self._clock()
                request = encode_request(
                    hook.run_id, events, enqueue=enqueue, ack=(), expect_seq=None, now=now
                )
                _, topics = await self._log.append_batch(
                    conn, [request], synchronous_commit=self._sync(True), now=now
                )
        self._fire([request], topics)
        return hook

    # -- queue -----------------------------------------------------------------------
    async def enqueue(self, messages: Sequence[NewMessage]) -> None:
        """Enqueue outside an append (same idempotency rules): an append of no events."""
        if messages:
            await self.append(messages[0].run_id, [], enqueue=messages)

    async def claim(
        self,
        kinds: Sequence[str],
        *,
        worker_id: str,
        lease_s: float,
        deployment_id: str | None = None,
    ) -> Message | None:
        """Lease the visible message with the earliest ``not_before``, or None.

        With ``deployment_id``, only messages of runs on that deployment.
        """
        async with self._conn() as conn:
            return await self._queue.claim(
                conn, kinds, worker_id, lease_s, self._clock(), deployment_id
            )

    async def ack(self, message_ids: Sequence[int]) -> None:
        """Delete these messages (re-show the dirty ones). One statement, no transaction."""
        async with self._conn() as conn:
            shown = await self._queue.ack(conn, message_ids)
        if shown:
            self._notifier.fire(("queue",))

    async def release(self, message_id: int, *, not_before: float) -> None:
        """Give a leased message back, visible again at ``not_before``."""
        async with self._conn() as conn:
            released = await self._queue.release(conn, message_id, not_before)
        if released:
            self._notifier.fire(("queue",))

    async def extend_lease(self, message_id: int, *, lease_s: float) -> bool:
        """Push the lease out to ``clock() + lease_s``; False if the message is gone."""
        async with self._conn() as conn:
            return await self._queue.extend(conn, message_id, self._clock() + lease_s)

    async def get_message(self, key: str) -> Message | None:
        """The live message with idempotency key ``key``, or None."""
        async with self._conn() as conn:
            return await self._queue.get(conn, key)

    async def next_due(
        self, kinds: Sequence[str], *, deployment_id: str | None = None
    ) -> float | None:
        """The earliest ``not_before`` among unleased messages of ``kinds``, or None.

        With ``deployment_id``, only messages of runs on that deployment.
        """
        async with self._conn() as conn:
            return await self._queue.next_due(conn, kinds, self._clock(), deployment_id)

    async def list_leases(self) -> list[Message]:
        """Messages under a current lease, oldest (lowest id) first."""
        async with self._conn() as conn:
            return await self._queue.leases(conn, self._clock())

    # -- flow control ------------------------------------------------------------------
    async def register_queues(self, specs: Sequence[QueueSpec]) -> None:
        """Create or update queue definitions (the last writer's limits win)."""
        topics = {"admit"}
        async with self._tx(topics) as conn:
            await self._flow.register(conn, specs, self._clock())

    async def get_queue(self, name: str) -> QueueSpec | None:
        """A registered queue, or None."""
        async with self._conn() as conn:
            return await self._flow.get(conn, name)

    async def list_queues(self) -> list[QueueSpec]:
        """Every registered queue, by name."""
        async with self._conn() as conn:
            return await self._flow.all(conn)

    async def start_queued(
        self,
        run_id: str,
        created: NewEvent,
        flow: FlowStart,
        *,
        first: Sequence[NewEvent] = (),
        enqueue: Sequence[NewMessage] = (),
    ) -> QueuedStart:
        """Create a queued run and admit what fits, in one transaction (``World``).

        Under the queue's advisory lock: the dedupe and debounce checks, the ``run_created``
        append (through ``append_batch``, as any append), the queued mark and admission.
        """
        topics: set[str] = set()
        now = self._clock()
        appended = None
        async with self._tx(topics) as conn:
            landed = await self._flow.prepare_start(conn, now, run_id, flow, created.data)
            if landed is not None:
                if landed != run_id:
                    topics.add("admit")
                return QueuedStart(landed)
            request = encode_request(
                run_id, [created], enqueue=(), ack=(), expect_seq=None, now=now
            )
            _, sent = await self._log.append_batch(
                conn, [request], synchronous_commit=self._sync(True), now=now
            )
            topics.update(sent)
            await self._flow.mark_queued(conn, now, run_id, flow)
            hold = run_id if first else None
            due, admitted = await self._flow.admit(conn, now, flow.queue, hold)
            if set(admitted) - {hold}:
                topics.add("queue")
            if due is not None:
                topics.add("admit")
            if hold is not None and hold in admitted:
                request = encode_request(
                    run_id, first, enqueue=enqueue, ack=(), expect_seq=1, now=now
                )
                (outcome,), sent = await self._log.append_batch(
                    conn, [request], synchronous_commit=self._sync(True), now=now
                )
                topics.update(sent)
                if isinstance(outcome, Exception):
                    raise outcome
                appended = outcome
        return QueuedStart(run_id, appended)

    async def admit(self, queue: str | None = None) -> float | None:
        """Admit what the limits allow; when to look again (``World.admit``).

        One transaction per queue with waiting runs, each under that queue's lock.
        """
        async with self._conn() as conn:
            names = [queue] if queue is not None else await self._flow.waiting_queues(conn)
        due: float | None = None
        for name in names:
            topics: set[str] = set()
            async with self._tx(topics) as conn:
                await self._flow.lock(conn, name)
                at, admitted = await self._flow.admit(conn, self._clock(), name)
                if admitted:
                    topics.add("queue")
            if at is not None:
                due = at if due is None else min(due, at)
        return due

    async def claim_limited(self, *, worker_id: str, lease_s: float) -> tuple[Message | None, bool]:
        """Lease a step message with limits that its limits allow (``World``).

        Each limited kind is checked and taken under an advisory lock on the kind, so two
        processes never both take its last slot or rate token.
        """
        async with self._conn() as conn, conn.transaction():
            return await self._flow.claim_limited(conn, self._clock(), worker_id, lease_s)

    # -- workers ---------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Register ``worker`` or refresh its ``last_seen`` (an asynchronous commit)."""
        async with self._conn() as conn:
            await self._queue.heartbeat(conn, worker, self._clock())

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, ordered by ``worker_id``."""
        async with self._conn() as conn:
            return await self._queue.workers(conn)

    async def release_worker(self, worker_id: str, *, last_seen: float) -> int | None:
        """Forget a gone worker and give back its messages under new ids (see World)."""
        async with self._conn() as conn:
            released = await self._queue.release_worker(conn, worker_id, last_seen)
        if released:
            self._notifier.fire(("queue",))
        return released

    # -- streams ---------------------------------------------------------------------
    async def write_chunk(self, run_id: str, namespace: str, data: bytes) -> int:
        """Append a chunk and return its index; WorldError if the stream is closed."""
        now = self._clock()
        topics = {f"stream:{run_id}:{namespace}"}
        async with self._tx(topics) as conn:
            cur = await conn.execute(
                f"""INSERT INTO {self._s}.streams AS st (run_id, namespace, tail, created_at)
                VALUES (%s, %s, 0, %s)
                ON CONFLICT (run_id, namespace) DO UPDATE SET tail = st.tail + 1
                WHERE NOT st.closed RETURNING tail""",
                (run_id, namespace, now),
            )
            row = await cur.fetchone()
            if row is None:
                raise WorldError(f"stream {namespace!r} of run {run_id} is closed")
            index = int(row[0])
            await conn.execute(
                f"""INSERT INTO {self._s}.chunks (run_id, namespace, idx, data, created_at)
                VALUES (%s, %s, %s, %s, %s)""",
                (run_id, namespace, index, data, now),
            )
        return index

    async def close_stream(self, run_id: str, namespace: str) -> None:
        """Mark the stream closed (idempotent); an unknown stream is created closed."""
        topics = {f"stream:{run_id}:{namespace}"}
        async with self._tx(topics) as conn:
            await conn.execute(
                f"""INSERT INTO {self._s}.streams (run_id, namespace, closed, created_at)
                VALUES (%s, %s, true, %s)
                ON CONFLICT (run_id, namespace) DO UPDATE SET closed = true""",
                (run_id, namespace, self._clock()),
            )

    async def read_chunks(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> list[Chunk]:
        """Chunks with ``index >= start``, in order, at most ``limit``."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"""SELECT idx, data, created_at FROM {self._s}.chunks
                WHERE run_id = %s AND namespace = %s AND idx >= %s ORDER BY idx LIMIT %s""",
                (run_id, namespace, max(0, start), max(0, limit)),
            )
            rows = await cur.fetchall()
        return [Chunk(int(r[0]), bytes(r[1]), float(r[2])) for r in rows]

    async def stream_info(self, run_id: str, namespace: str) -> StreamInfo:
        """Tail index and closed flag; ``StreamInfo()`` for an unknown stream."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"""SELECT tail, closed FROM {self._s}.streams
                WHERE run_id = %s AND namespace = %s""",
                (run_id, namespace),
            )
            row = await cur.fetchone()
        return StreamInfo(int(row[0]), bool(row[1])) if row else StreamInfo()

    async def list_streams(self, run_id: str) -> list[str]:
        """Namespaces with a stream in this run, sorted."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT namespace FROM {self._s}.streams WHERE run_id = %s ORDER BY namespace",
                (run_id,),
            )
            rows = await cur.fetchall()
        return [str(r[0]) for r in rows]

    # -- change notification ---------------------------------------------------------
    async def wait_for_change(self, topics: Sequence[str], timeout: float) -> bool:
        """Sleep until a commit touches one of ``topics`` or ``timeout`` seconds pass.

        Local commits wake waiters directly; other processes' commits arrive by NOTIFY on
        the shared listening connection. After ``poll_interval`` without news the call
        returns True anyway (a spurious wake-up), covering any notification that slipped
        between the caller's last look and this call.
        """
        if timeout <= 0 or not topics:
            return False
        if self._closed:
            raise WorldError("this PostgresWorld is closed")
        if not self._migrated:
            await self.setup()
        topics = list(dict.fromkeys(topics))
        event = anyio.Event()
        self._notifier.add(topics, event)
        polled = timeout > self._poll
        try:
            with anyio.move_on_after(min(timeout, self._poll)):
                try:
                    await self._listener.subscribe(topics)
                    await event.wait()
                finally:
                    self._listener.unsubscribe(topics)
        finally:
            self._notifier.remove(topics, event)
        return event.is_set() or polled
