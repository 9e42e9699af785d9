"""The event log half of ``append`` for the PostgreSQL world.

All of it runs inside the caller's transaction. Concurrency rests on two database rules:

* **Dense seqs.** The first statement upserts the run's ``run_seq`` row, adding the number of
  new events, and inserts the events numbered from its old value. The row lock it takes
  serialises appenders to one run (appenders to other runs do not touch it), so seqs are
  dense and ``expect_seq`` is checked against a value nobody else can change before we
  commit.
* **Exactly once.** Events go in with ``ON CONFLICT (run_id, dedup_key) DO NOTHING``; a row
  that did not go in is a duplicate, the caller raises :class:`DuplicateEvent` and the whole
  transaction rolls back. The unique index is the last word, not a check made beforehand.

Hook tokens are unique among live hooks by a partial unique index; an insert that conflicts
inserts nothing and the holder is looked up (under the index's lock, so it is current).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import psycopg

from wdk.errors import WorldError
from wdk.worlds.base import DuplicateEvent, EventType, NewEvent, RunStatus, TokenConflict

__all__ = ["LogSQL"]

_TERMINAL_STATUS = {
    EventType.RUN_COMPLETED: RunStatus.COMPLETED,
    EventType.RUN_FAILED: RunStatus.FAILED,
    EventType.RUN_CANCELLED: RunStatus.CANCELLED,
}


def _bytes_or_none(value: object) -> bytes | None:
    return value if isinstance(value, bytes) else None


def _unpack_map(data: bytes | None) -> dict[str, Any]:
    try:
        value = msgpack.unpackb(data or b"\x80", raw=False, strict_map_key=False)
    except Exception as exc:
        raise WorldError(f"event data is not a msgpack map: {exc}") from exc
    if not isinstance(value, dict):
        raise WorldError("event data is not a msgpack map")
    return value


class LogSQL:
    """Event-log statements for one schema."""

    def __init__(self, quoted_schema: str) -> None:
        s = quoted_schema
        # One round trip: bump the run's counter (locking its row), insert the events
        # numbered from the old value, report the new last seq and the seqs that went in.
        self._insert = f"""
            WITH bump AS (
                INSERT INTO {s}.run_seq AS r (run_id, last_seq) VALUES (%(run)s, %(n)s)
                ON CONFLICT (run_id) DO UPDATE SET last_seq = r.last_seq + %(n)s
                RETURNING last_seq),
            ins AS (
                INSERT INTO {s}.events
                    (run_id, seq, type, correlation_id, data, created_at, dedup_key)
                SELECT %(run)s, (SELECT last_seq FROM bump) - %(n)s + e.ord, e.type, e.cid,
                    e.data, %(now)s, e.dk
                FROM unnest(%(types)s::text[], %(cids)s::text[], %(datas)s::bytea[],
                            %(dks)s::text[]) WITH ORDINALITY AS e(type, cid, data, dk, ord)
                ON CONFLICT (run_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
                RETURNING seq)
            SELECT (SELECT last_seq FROM bump), ARRAY(SELECT seq FROM ins)"""
        self._lock = f"""
            INSERT INTO {s}.run_seq AS r (run_id, last_seq) VALUES (%s, 0)
            ON CONFLICT (run_id) DO UPDATE SET last_seq = r.last_seq"""
        self._last = f"SELECT last_seq FROM {s}.run_seq WHERE run_id = %s"
        self._run_created = f"""
            INSERT INTO {s}.runs (run_id, workflow_id, status, created_at, input)
            VALUES (%s, %s, 'pending', %s, %s) ON CONFLICT (run_id) DO NOTHING"""
        self._run_started = f"""
            UPDATE {s}.runs SET status = 'running', started_at = coalesce(started_at, %s)
            WHERE run_id = %s AND status = 'pending'"""
        self._run_ended = f"""
            UPDATE {s}.runs SET status = %s, completed_at = %s, output = %s, error = %s
            WHERE run_id = %s AND status NOT IN ('completed', 'failed', 'cancelled')"""
        self._hook_insert = f"""
            INSERT INTO {s}.hooks (run_id, correlation_id, token, metadata, kind, created_at)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (token) WHERE disposed_at IS NULL DO NOTHING
            RETURNING id"""
        self._hook_holder = f"""
            SELECT run_id, correlation_id FROM {s}.hooks
            WHERE token = %s AND disposed_at IS NULL"""
        self._hook_replace = f"""
            UPDATE {s}.hooks SET disposed_at = %s
            WHERE run_id = %s AND correlation_id = %s AND token <> %s AND disposed_at IS NULL"""
        self._hook_dispose = f"""
            UPDATE {s}.hooks SET disposed_at = %s
            WHERE run_id = %s AND correlation_id = %s AND disposed_at IS NULL"""
        self._hooks_dispose_run = f"""
            UPDATE {s}.hooks SET disposed_at = %s WHERE run_id = %s AND disposed_at IS NULL"""
        self._streams_close_run = f"""
            UPDATE {s}.streams SET closed = true WHERE run_id = %s AND NOT closed
            RETURNING namespace"""

    async def lock_run(self, conn: psycopg.AsyncConnection[Any], run_id: str) -> None:
        """Take the run's append lock (its ``run_seq`` row) until the transaction ends."""
        await conn.execute(self._lock, (run_id,))

    async def last_seq(self, conn: psycopg.AsyncConnection[Any], run_id: str) -> int:
        """The run's last seq (0 for a run without events)."""
        cur = await conn.execute(self._last, (run_id,))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def insert(
        self,
        conn: psycopg.AsyncConnection[Any],
        run_id: str,
        events: Sequence[NewEvent],
        now: float,
        expect_seq: int | None,
    ) -> int:
        """Insert ``events`` with dense seqs; returns the run's new last seq.

        Raises DuplicateEvent (the caller rolls back) on an ``expect_seq`` mismatch or a
        repeated ``dedup_key``.
        """
        n = len(events)
        params = {
            "run": run_id,
            "n": n,
            "now": now,
            "types": [e.type for e in events],
            "cids": [e.correlation_id for e in events],
            "datas": [e.data for e in events],
            "dks": [e.dedup_key for e in events],
        }
        cur = await conn.execute(self._insert, params)
        row = await cur.fetchone()
        assert row is not None
        last = int(row[0])
        base = last - n
        # Checked after the insert (it saves a round trip): raising rolls all of it back.
        if expect_seq is not None and base != expect_seq:
            raise DuplicateEvent(run_id, "seq")
        inserted = set(row[1])
        if len(inserted) != n:
            for i, event in enumerate(events, start=1):
                if base + i not in inserted:
                    raise DuplicateEvent(run_id, event.dedup_key or "")
        return last

    async def apply(
        self,
        conn: psycopg.AsyncConnection[Any],
        run_id: str,
        events: Sequence[NewEvent],
        now: float,
    ) -> tuple[bool, list[str]]:
        """Maintain the runs view and hooks; returns (ended, namespaces of closed streams)."""
        ended = False
        closed: list[str] = []
        for event in events:
            kind = event.type
            if kind == EventType.RUN_CREATED:
                info = _unpack_map(event.data)
                await conn.execute(
                    self._run_created,
                    (
                        run_id,
                        str(info.get("workflow_id", "")),
                        now,
                        _bytes_or_none(info.get("input")),
                    ),
                )
            elif kind == EventType.RUN_STARTED:
                await conn.execute(self._run_started, (now, run_id))
            elif kind in _TERMINAL_STATUS:
                output = event.data if kind == EventType.RUN_COMPLETED else None
                error = event.data if kind == EventType.RUN_FAILED else None
                status = _TERMINAL_STATUS[kind]
                await conn.execute(self._run_ended, (status, now, output, error, run_id))
                await conn.execute(self._hooks_dispose_run, (now, run_id))
                cur = await conn.execute(self._streams_close_run, (run_id,))
                closed.extend(str(r[0]) for r in await cur.fetchall())
                ended = True
            elif kind == EventType.HOOK_CREATED:
                await self._create_hook(conn, run_id, event, now)
            elif kind == EventType.HOOK_DISPOSED:
                await conn.execute(self._hook_dispose, (now, run_id, event.correlation_id))
        return ended, closed

    async def _create_hook(
        self, conn: psycopg.AsyncConnection[Any], run_id: str, event: NewEvent, now: float
    ) -> None:
        info = _unpack_map(event.data)
        token = str(info["token"]) if "token" in info else ""
        metadata = _bytes_or_none(info.get("metadata"))
        kind = str(info.get("kind") or "hook")
        cid = event.correlation_id or ""
        # A new token for a correlation id replaces that hook's old one.
        await conn.execute(self._hook_replace, (now, run_id, cid, token))
        while True:
            cur = await conn.execute(self._hook_insert, (run_id, cid, token, metadata, kind, now))
            if await cur.fetchone() is not None:
                return
            cur = await conn.execute(self._hook_holder, (token,))
            row = await cur.fetchone()
            if row is not None:
                if (row[0], row[1]) == (run_id, cid):
                    return  # the same hook registered again: nothing to do
                raise TokenConflict(token, str(row[0]))
            # The holder was disposed by a commit between our two statements: try again.
