"""The PostgreSQL world's flow control: queue definitions, queued starts and admission.

Admission of a queue runs under a transaction-scoped advisory lock on the queue's name, so
two processes never admit on one queue at once (each would count the same free slots); starts
on the queue take the same lock, so a dedupe key or a debounce is checked and written as one
step. The decisions are :func:`~wdk.worlds._flow.plan_admission`'s.

A run's end frees its slot in the transaction that ends it (the slot *is* the unfinished
run); a trigger on the runs view then NOTIFYs ``admit``, and the workers' admission loops
admit the next runs (migration 4 in ``_pg_migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import psycopg

from wdk.errors import QueueError
from wdk.worlds._flow import (
    FlowStart,
    QueueSpec,
    candidate_limit,
    parse_limit_kind,
    plan_admission,
    waiting_order,
)
from wdk.worlds._pg_queue import message_of
from wdk.worlds.base import Message

__all__ = ["FlowSQL"]

#: first key of the queue advisory locks ("wdkq" in ASCII); the second is the name's hash
_LOCK_CLASS = 0x77646B71
_ACTIVE = "('pending', 'running', 'blocked')"
_Conn = psycopg.AsyncConnection[Any]


def _spec(row: Sequence[Any]) -> QueueSpec:
    return QueueSpec(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


class FlowSQL:
    """Flow-control statements for one schema. Methods run on the connection they are given."""

    def __init__(self, quoted_schema: str, schema: str) -> None:
        s = quoted_schema
        self._s = s
        self._schema = schema
        self._spec = (
            "SELECT name, concurrency, per_key_concurrency, rate_limit, rate_period, priority"
            f" FROM {s}.queues"
        )
        self._upsert = f"""INSERT INTO {s}.queues
            (name, concurrency, per_key_concurrency, rate_limit, rate_period, priority,
             updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
                per_key_concurrency = excluded.per_key_concurrency,
                rate_limit = excluded.rate_limit, rate_period = excluded.rate_period,
                priority = excluded.priority, updated_at = excluded.updated_at"""
        self._lock = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
        self._active = f"SELECT count(*) FROM {s}.runs WHERE queue = %s AND status IN {_ACTIVE}"
        self._by_key = (
            f"SELECT queue_key, count(*) FROM {s}.runs WHERE queue = %s AND status IN {_ACTIVE}"
            " GROUP BY queue_key"
        )
        self._window = (
            f"SELECT admitted_at FROM {s}.runs WHERE queue = %s AND admitted_at > %s"
            " ORDER BY admitted_at"
        )
        self._waiting = (
            f"SELECT run_id, queue_key FROM {s}.runs WHERE queue = %s AND status = 'queued'"
            " AND coalesce(admit_at, 0) <= %s ORDER BY "
        )
        self._admit = f"""
            WITH admitted AS (
                UPDATE {s}.runs SET status = 'pending', admitted_at = %(now)s
                WHERE run_id = ANY(%(ids)s) AND status = 'queued' RETURNING run_id)
            INSERT INTO {s}.queue (kind, run_id, key, not_before, created_at)
            SELECT 'workflow', run_id, 'wf:' || run_id, %(now)s, %(now)s FROM admitted
            WHERE run_id IS DISTINCT FROM %(hold)s
            ON CONFLICT (key) DO NOTHING"""
        self._next_time = (
            f"SELECT min(admit_at) FROM {s}.runs WHERE queue = %s AND status = 'queued'"
            " AND admit_at IS NOT NULL AND admit_at > %s"
        )
        self._any_waiting = f"SELECT 1 FROM {s}.runs WHERE queue = %s AND status = 'queued' LIMIT 1"
        self._waiting_queues = f"""
            SELECT q.name FROM {s}.queues q WHERE EXISTS (
                SELECT FROM {s}.runs r WHERE r.queue = q.name AND r.status = 'queued')
            ORDER BY q.name"""
        self._exists = f"SELECT 1 FROM {s}.runs WHERE run_id = %s"
        self._deduped = (
            f"SELECT run_id FROM {s}.runs WHERE queue = %s AND dedupe_key = %s"
            f" AND status IN ('queued', 'pending', 'running', 'blocked')"
        )
        self._debouncing = (
            f"SELECT run_id FROM {s}.runs WHERE queue = %s AND queue_key = %s"
            " AND status = 'queued' AND debounce IS NOT NULL ORDER BY created_at, run_id LIMIT 1"
        )
        self._rewrite_event = f"UPDATE {s}.events SET data = %s WHERE run_id = %s AND seq = 1"
        self._rewrite_run = f"UPDATE {s}.runs SET input = %s, admit_at = %s WHERE run_id = %s"
        self._queue_run = f"""UPDATE {s}.runs SET status = 'queued', queue = %s, queue_key = %s,
            priority = %s, dedupe_key = %s, debounce = %s, admit_at = %s WHERE run_id = %s"""

    async def claim_limited(
        self, conn: _Conn, now: float, worker_id: str, lease_s: float
    ) -> tuple[Message | None, bool]:
        """Lease a step message with limits that its limits allow (in a transaction)."""
        s = self._s
        cur = await conn.execute(
            f"""SELECT DISTINCT kind FROM {s}.queue WHERE kind LIKE 'limit:%%'
                AND not_before <= %s AND (lease_until IS NULL OR lease_until <= %s)""",
            (now, now),
        )
        kinds = sorted(k for (k,) in await cur.fetchall())
        for kind in kinds:
            spec = parse_limit_kind(kind)
            await conn.execute(self._lock, (_LOCK_CLASS, f"{self._schema}/{kind}"))
            if spec.concurrency is not None:
                cur = await conn.execute(
                    f"SELECT count(*) FROM {s}.queue WHERE kind = %s AND owner IS NOT NULL"
                    " AND lease_until > %s",
                    (kind, now),
                )
                if ((await cur.fetchone()) or (0,))[0] >= spec.concurrency:
                    continue
            if spec.rate_limit is not None and spec.rate_period is not None:
                since = now - spec.rate_period
                cur = await conn.execute(
                    f"SELECT count(*) FROM {s}.step_claims WHERE kind = %s AND at > %s",
                    (kind, since),
                )
                if ((await cur.fetchone()) or (0,))[0] >= spec.rate_limit:
                    continue
            cur = await conn.execute(
                f"""UPDATE {s}.queue SET lease_until = %(until)s, owner = %(owner)s,
                    deliveries = deliveries + 1, dirty = false, dirty_not_before = NULL
                WHERE id = (SELECT id FROM {s}.queue WHERE kind = %(kind)s
                    AND not_before <= %(now)s AND (lease_until IS NULL OR lease_until <= %(now)s)
                    ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, kind, run_id, key, payload, not_before, deliveries, lease_until,
                    owner""",
                {"until": now + lease_s, "owner": worker_id, "kind": kind, "now": now},
            )
            row = await cur.fetchone()
            if row is None:
                continue
            if spec.rate_limit is not None and spec.rate_period is not None:
                await conn.execute(
                    f"DELETE FROM {s}.step_claims WHERE kind = %s AND at <= %s",
                    (kind, now - max(spec.rate_period, 60.0)),  # kept a minute at least
                )
                await conn.execute(
                    f"INSERT INTO {s}.step_claims (kind, at) VALUES (%s, %s)", (kind, now)
                )
            return message_of(row), False
        return None, bool(kinds)

    async def register(self, conn: _Conn, specs: Sequence[QueueSpec], now: float) -> None:
        """Upsert queue definitions."""
        for q in specs:
            await conn.execute(
                self._upsert,
                (
                    q.name,
                    q.concurrency,
                    q.per_key_concurrency,
                    q.rate_limit,
                    q.rate_period,
                    q.priority,
                    now,
                ),
            )

    async def get(self, conn: _Conn, name: str) -> QueueSpec | None:
        """A registered queue, or None."""
        cur = await conn.execute(self._spec + " WHERE name = %s", (name,))
        row = await cur.fetchone()
        return None if row is None else _spec(row)

    async def all(self, conn: _Conn) -> list[QueueSpec]:
        """Every registered queue, by name."""
        cur = await conn.execute(self._spec + " ORDER BY name")
        return [_spec(row) for row in await cur.fetchall()]

    async def lock(self, conn: _Conn, name: str) -> None:
        """Take the queue's admission lock until the transaction ends."""
        await conn.execute(self._lock, (_LOCK_CLASS, f"{self._schema}/{name}"))

    async def prepare_start(
        self, conn: _Conn, now: float, run_id: str, flow: FlowStart, data: bytes | None
    ) -> str | None:
        """Under the queue's lock: the run a start lands on without a new run, or None.

        Raises QueueError for an unknown queue. Applies a debounce to the waiting run.
        """
        if await self.get(conn, flow.queue) is None:
            raise QueueError(
                f"unknown queue {flow.queue!r}: declare it with wdk.Queue({flow.queue!r}, ...)"
                " at module level in a workflow module, and import that module (or start its"
                " workflow) in this process or a worker first",
                queue=flow.queue,
            )
        await self.lock(conn, flow.queue)
        if await (await conn.execute(self._exists, (run_id,))).fetchone():
            return run_id
        if flow.dedupe_key is not None:
            row = await (
                await conn.execute(self._deduped, (flow.queue, flow.dedupe_key))
            ).fetchone()
            if row is not None:
                return str(row[0])
        if flow.debounce is not None and flow.key is not None:
            row = await (await conn.execute(self._debouncing, (flow.queue, flow.key))).fetchone()
            if row is not None:
                target = str(row[0])
                new_input = msgpack.unpackb(data or b"\x80", raw=False).get("input")
                await conn.execute(self._rewrite_event, (data, target))
                await conn.execute(self._rewrite_run, (new_input, admit_at(now, flow), target))
                return target
        return None

    async def mark_queued(self, conn: _Conn, now: float, run_id: str, flow: FlowStart) -> None:
        """The run just created waits on its queue."""
        await conn.execute(
            self._queue_run,
            (
                flow.queue,
                flow.key,
                flow.priority,
                flow.dedupe_key,
                flow.debounce,
                admit_at(now, flow),
                run_id,
            ),
        )

    async def waiting_queues(self, conn: _Conn) -> list[str]:
        """The queues with a waiting run."""
        cur = await conn.execute(self._waiting_queues)
        return [name for (name,) in await cur.fetchall()]

    async def admit(
        self, conn: _Conn, now: float, name: str, hold: str | None = None
    ) -> tuple[float | None, list[str]]:
        """Admit what the queue allows (its lock held); (when to look again, the admitted).

        ``hold`` is admitted without a start message (its first pass comes with the start).
        """
        spec = await self.get(conn, name)
        if spec is None:
            return None, []
        active = (await (await conn.execute(self._active, (name,))).fetchone() or (0,))[0]
        by_key: dict[str | None, int] = {}
        if spec.per_key_concurrency is not None:
            by_key = dict(await (await conn.execute(self._by_key, (name,))).fetchall())
        window: list[float] = []
        if spec.rate_limit is not None and spec.rate_period is not None:
            cur = await conn.execute(self._window, (name, now - spec.rate_period))
            window = [t for (t,) in await cur.fetchall()]
        sql = self._waiting + waiting_order(spec)
        params: tuple[Any, ...] = (name, now)
        limit = candidate_limit(spec, active, window)
        if limit is not None:
            sql += " LIMIT %s"
            params += (limit,)
        candidates = await (await conn.execute(sql, params)).fetchall()  # type: ignore[arg-type]
        plan = plan_admission(
            spec, now, active=active, active_by_key=by_key, window=window, candidates=candidates
        )
        if plan.run_ids:
            await conn.execute(self._admit, {"now": now, "ids": plan.run_ids, "hold": hold})
        due: float | None = (
            await (await conn.execute(self._next_time, (name, now))).fetchone() or (None,)
        )[0]
        if (
            plan.due is not None
            and await (await conn.execute(self._any_waiting, (name,))).fetchone()
        ):
            due = plan.due if due is None else min(due, plan.due)
        return due, plan.run_ids


def admit_at(now: float, flow: FlowStart) -> float | None:
    """When a new queued run may start at the earliest (its delay or debounce), or None."""
    wait = max(flow.delay or 0.0, flow.debounce or 0.0)
    return now + wait if wait > 0 else None
