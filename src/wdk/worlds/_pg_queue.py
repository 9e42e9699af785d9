"""The durable queue of the PostgreSQL world, as SQL run on a caller's connection.

Every row of ``queue`` is live (pending or leased); acknowledging deletes it, so the plain
``UNIQUE (key)`` constraint is the idempotency rule "one live message per key". A message is
visible when ``not_before <= now`` and it is not leased (``lease_until`` null or reached). Claims
lock the chosen row with ``FOR UPDATE SKIP LOCKED``: concurrent claimers skip each other's
candidates instead of queueing behind them, and never both get one message.

Enqueuing a key that is already live adds no row. If the live message is pending its
``not_before`` moves earlier when the new one is due sooner (a run woken by a hook must not
wait for an older delayed wake-up) and, with ``lease_to``, it is leased to that worker; if it
is leased (claimed and not acked or released, even when the lease has expired) it is marked
*dirty*. Acknowledging a dirty message re-shows it (at the earliest ``not_before`` asked for
meanwhile, ``deliveries`` back to 0) instead of deleting it; a claim or a release clears the
mark. These rules match the memory and SQLite worlds; the conformance suite pins them. The
enqueue itself is part of an append (``append_one`` in ``_pg_functions``).

A worker pinned to a deployment claims only messages of runs on it: the same claim with an
``EXISTS`` probe of each candidate's run by its key (the walk over the due rows stays as it
is; a join could start from the runs of the deployment, terminal ones included). An unpinned
claim runs the statement without it.

All times are the world's clock, passed in as parameters: the SQL never reads ``now()``, so
tests can drive leases with a fake clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from wdk.worlds.base import Message, WorkerInfo

__all__ = ["QueueSQL", "message_of"]

_COLUMNS = "id, kind, run_id, key, payload, not_before, deliveries, lease_until, owner"


def _claim_sql(q: str, extra: str) -> str:
    """The claim statement; ``extra`` is ANDed to each candidate query ("" for none).

    The earliest pending row and the earliest expired lease, each from its own partial
    index (migration 2); the claim takes the earlier of the two. "BETWEEN 0 AND now", not
    "<= now": on a table without statistics yet the planner guesses a third of the rows for
    a one-sided range and scans the table, but a small share for a two-sided one and reads
    the lease index.
    """
    return f"""
            WITH pending AS (
                SELECT id, not_before FROM {q}
                WHERE lease_until IS NULL AND not_before <= %(now)s
                    AND kind = ANY(%(kinds)s){extra}
                ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED),
            expired AS (
                SELECT id, not_before FROM {q}
                WHERE lease_until BETWEEN 0 AND %(now)s AND not_before <= %(now)s
                    AND kind = ANY(%(kinds)s){extra}
                ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED),
            pick AS (
                SELECT id, not_before FROM pending UNION ALL SELECT id, not_before FROM expired
                ORDER BY not_before, id LIMIT 1)
            UPDATE {q} SET lease_until = %(until)s, owner = %(owner)s,
                deliveries = deliveries + 1, dirty = false, dirty_not_before = NULL
            WHERE id = (SELECT id FROM pick)
            RETURNING {_COLUMNS}"""


def _next_due_sql(q: str, extra: str) -> str:
    """The ``next_due`` statement; ``extra`` as in :func:`_claim_sql`."""
    return f"""
            SELECT least(
                (SELECT not_before FROM {q}
                WHERE lease_until IS NULL AND kind = ANY(%(kinds)s){extra}
                ORDER BY not_before, id LIMIT 1),
                (SELECT min(not_before) FROM {q}
                WHERE lease_until BETWEEN 0 AND %(now)s AND kind = ANY(%(kinds)s){extra}))"""


def message_of(row: tuple[Any, ...]) -> Message:
    """A Message from a row of ``_COLUMNS``."""
    return _message(row)


def _message(row: tuple[Any, ...]) -> Message:
    mid, kind, run_id, key, payload, not_before, deliveries, lease_until, owner = row
    return Message(
        id=mid,
        kind=kind,
        run_id=run_id,
        key=key,
        payload=bytes(payload) if payload is not None else None,
        not_before=not_before,
        deliveries=deliveries,
        lease_until=lease_until if lease_until is not None else 0.0,
        owner=owner,
    )


class QueueSQL:
    """Queue statements for one schema. Methods run on the connection they are given."""

    def __init__(self, quoted_schema: str, channel: str) -> None:
        q = f"{quoted_schema}.queue"
        # ``queue`` names the outer row: a schema-qualified table is still named by its name.
        pinned = f"""
                    AND EXISTS (SELECT FROM {quoted_schema}.runs r
                        WHERE r.run_id = queue.run_id AND r.deployment_id = %(deployment)s)"""
        # ack and release are single statements (no transaction round trips); they NOTIFY
        # the queue channel themselves, in the same commit, when a message becomes visible.
        notify = f"SELECT pg_notify('{channel}', 'queue')"
        self._ack = f"""
            WITH gone AS (DELETE FROM {q} WHERE id = ANY(%(ids)s) AND NOT dirty RETURNING id),
            shown AS (
                UPDATE {q} SET dirty = false, lease_until = NULL, owner = NULL,
                    deliveries = 0, not_before = coalesce(dirty_not_before, not_before),
                    dirty_not_before = NULL
                WHERE id = ANY(%(ids)s) AND dirty RETURNING id),
            note AS ({notify} WHERE EXISTS (SELECT FROM shown))
            SELECT (SELECT count(*) FROM shown), (SELECT count(*) FROM note)"""
        self._claim = _claim_sql(q, "")
        self._claim_pinned = _claim_sql(q, pinned)
        self._release = f"""
            WITH done AS (
                UPDATE {q} SET lease_until = NULL, owner = NULL,
                    not_before = least(%s, dirty_not_before), dirty = false,
                    dirty_not_before = NULL
                WHERE id = %s RETURNING id),
            note AS ({notify} WHERE EXISTS (SELECT FROM done))
            SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM note)"""
        self._extend = f"""
            UPDATE {q} SET lease_until = %s WHERE id = %s AND owner IS NOT NULL"""
        self._get = f"SELECT {_COLUMNS} FROM {q} WHERE key = %s"
        self._next_due = _next_due_sql(q, "")
        self._next_due_pinned = _next_due_sql(q, pinned)
        workers = f"{quoted_schema}.workers"
        self._heartbeat = f"""
            INSERT INTO {workers} (worker_id, host, pid, process, started_at, last_seen)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                process = excluded.process, last_seen = excluded.last_seen"""
        self._workers = f"""
            SELECT worker_id, host, pid, process, started_at, last_seen FROM {workers}
            ORDER BY worker_id"""
        # Forget the worker (if it is still as seen) and give its messages back under new
        # ids, so the old holder's ack, release or extension finds nothing. No index on
        # owner: this runs once per dead worker, an index would cost every claim a write.
        self._release_worker = f"""
            WITH gone AS (
                DELETE FROM {workers} WHERE worker_id = %(worker)s AND last_seen <= %(seen)s
                RETURNING worker_id),
            freed AS (
                UPDATE {q} SET id = nextval('{quoted_schema}.queue_id_seq'),
                    lease_until = NULL, owner = NULL, dirty = false, dirty_not_before = NULL,
                    not_before = least(not_before, dirty_not_before)
                WHERE owner = %(worker)s AND EXISTS (SELECT FROM gone) RETURNING id),
            note AS ({notify} WHERE EXISTS (SELECT FROM freed))
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM freed),
                (SELECT count(*) FROM note)"""
        self._leases = f"""
            SELECT {_COLUMNS} FROM {q}
            WHERE owner IS NOT NULL AND lease_until > %s ORDER BY id"""

    async def ack(self, conn: psycopg.AsyncConnection[Any], ids: Sequence[int]) -> bool:
        """Delete (or re-show when dirty) these messages; True if one was re-shown.

        A re-show NOTIFYs the queue channel in the same statement.
        """
        if not ids:
            return False
        cur = await conn.execute(self._ack, {"ids": list(ids)})
        row = await cur.fetchone()
        return bool(row and row[0])

    async def claim(
        self,
        conn: psycopg.AsyncConnection[Any],
        kinds: Sequence[str],
        worker_id: str,
        lease_s: float,
        now: float,
        deployment_id: str | None = None,
    ) -> Message | None:
        """Lease the visible message with the earliest ``not_before``, or None.

        With ``deployment_id``, only a message of a run on that deployment.
        """
        params = {"kinds": list(kinds), "now": now, "until": now + lease_s, "owner": worker_id}
        if deployment_id is None:
            cur = await conn.execute(self._claim, params)
        else:
            params["deployment"] = deployment_id
            cur = await conn.execute(self._claim_pinned, params)
        row = await cur.fetchone()
        return _message(row) if row else None

    async def release(
        self, conn: psycopg.AsyncConnection[Any], message_id: int, not_before: float
    ) -> bool:
        """Unlease a message, visible again at ``not_before`` (NOTIFYing); False if gone."""
        cur = await conn.execute(self._release, (not_before, message_id))
        row = await cur.fetchone()
        return bool(row and row[0])

    async def extend(
        self, conn: psycopg.AsyncConnection[Any], message_id: int, until: float
    ) -> bool:
        """Push a leased message's lease to ``until``; False if it is gone or unleased."""
        cur = await conn.execute(self._extend, (until, message_id))
        return cur.rowcount > 0

    async def get(self, conn: psycopg.AsyncConnection[Any], key: str) -> Message | None:
        """The live message with ``key``."""
        cur = await conn.execute(self._get, (key,))
        row = await cur.fetchone()
        return _message(row) if row else None

    async def next_due(
        self,
        conn: psycopg.AsyncConnection[Any],
        kinds: Sequence[str],
        now: float,
        deployment_id: str | None = None,
    ) -> float | None:
        """Earliest ``not_before`` among unleased (or lease-expired) messages of ``kinds``.

        With ``deployment_id``, only among messages of runs on that deployment.
        """
        params = {"kinds": list(kinds), "now": now}
        if deployment_id is None:
            cur = await conn.execute(self._next_due, params)
        else:
            params["deployment"] = deployment_id
            cur = await conn.execute(self._next_due_pinned, params)
        row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def heartbeat(
        self, conn: psycopg.AsyncConnection[Any], worker: WorkerInfo, now: float
    ) -> None:
        """Register ``worker`` or refresh its ``last_seen``."""
        w = worker
        await conn.execute(self._heartbeat, (w.worker_id, w.host, w.pid, w.process, now, now))

    async def workers(self, conn: psycopg.AsyncConnection[Any]) -> list[WorkerInfo]:
        """Registered workers, by id."""
        cur = await conn.execute(self._workers)
        return [WorkerInfo(*row) for row in await cur.fetchall()]

    async def release_worker(
        self, conn: psycopg.AsyncConnection[Any], worker_id: str, last_seen: float
    ) -> int | None:
        """Forget a gone worker, give back its messages (NOTIFYing); None if not as seen."""
        cur = await conn.execute(self._release_worker, {"worker": worker_id, "seen": last_seen})
        row = await cur.fetchone()
        return int(row[1]) if row and row[0] else None

    async def leases(self, conn: psycopg.AsyncConnection[Any], now: float) -> list[Message]:
        """Messages under a current lease, lowest id first."""
        cur = await conn.execute(self._leases, (now,))
        return [_message(row) for row in await cur.fetchall()]
