"""The SQLite world's flow control: queue definitions, queued starts and admission.

Every function runs inside the caller's ``BEGIN IMMEDIATE`` transaction, so admission is
atomic across the processes sharing the file (one writer at a time), and a run's end admits
the next runs of its queue in the very transaction that ends it. The decisions are
:func:`~wdk.worlds._flow.plan_admission`'s; this module only reads and writes the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from wdk.errors import QueueError
from wdk.worlds import _sqlite_schema as q
from wdk.worlds._flow import (
    FlowStart,
    QueueSpec,
    candidate_limit,
    parse_limit_kind,
    plan_admission,
    start_message,
    waiting_order,
)
from wdk.worlds.base import Appended, Message, NewEvent, NewMessage, QueuedStart

__all__ = [
    "get_queue",
    "list_queues",
    "tx_admit",
    "tx_admit_all",
    "tx_claim_limited",
    "tx_register",
    "tx_start",
]

_Conn = sqlite3.Connection
#: ``(conn, now, topics, run_id, last_seq, events) -> last_seq``: the world's event insert
InsertEvents = Callable[[_Conn, float, set[str], str, int, Sequence[NewEvent]], int]
#: ``(conn, now, topics, messages) -> ids``: the world's enqueue
Enqueue = Callable[[_Conn, float, set[str], Sequence[NewMessage]], tuple[int, ...]]

_SPEC = (
    "SELECT name, concurrency, per_key_concurrency, rate_limit, rate_period, priority FROM queues"
)
_UPSERT = """INSERT INTO queues
    (name, concurrency, per_key_concurrency, rate_limit, rate_period, priority, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
        per_key_concurrency = excluded.per_key_concurrency, rate_limit = excluded.rate_limit,
        rate_period = excluded.rate_period, priority = excluded.priority,
        updated_at = excluded.updated_at"""
_ACTIVE = (
    "SELECT count(*) FROM runs WHERE queue = ? AND status IN ('pending', 'running', 'blocked')"
)
_ACTIVE_BY_KEY = (
    "SELECT queue_key, count(*) FROM runs WHERE queue = ?"
    " AND status IN ('pending', 'running', 'blocked') GROUP BY queue_key"
)
_WINDOW = "SELECT admitted_at FROM runs WHERE queue = ? AND admitted_at > ? ORDER BY admitted_at"
_WAITING = (
    "SELECT run_id, queue_key FROM runs WHERE queue = ? AND status = 'queued'"
    " AND coalesce(admit_at, 0) <= ? ORDER BY "
)
_ADMIT = "UPDATE runs SET status = 'pending', admitted_at = ? WHERE run_id = ?"
_NEXT_TIME = (
    "SELECT min(admit_at) FROM runs WHERE queue = ? AND status = 'queued'"
    " AND admit_at IS NOT NULL AND admit_at > ?"
)
_ANY_WAITING = "SELECT 1 FROM runs WHERE queue = ? AND status = 'queued' LIMIT 1"
_DEDUPED = (
    "SELECT run_id FROM runs WHERE queue = ? AND dedupe_key = ?"
    " AND status IN ('queued', 'pending', 'running', 'blocked')"
)
_DEBOUNCING = (
    "SELECT run_id FROM runs WHERE queue = ? AND queue_key = ? AND status = 'queued'"
    " AND debounce IS NOT NULL ORDER BY created_at, run_id LIMIT 1"
)
_QUEUE_RUN = """UPDATE runs SET status = 'queued', queue = ?, queue_key = ?, priority = ?,
    dedupe_key = ?, debounce = ?, admit_at = ? WHERE run_id = ?"""


def _spec(row: Sequence[Any]) -> QueueSpec:
    return QueueSpec(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def get_queue(conn: _Conn, name: str) -> QueueSpec | None:
    """The registered queue ``name``, or None."""
    row = conn.execute(_SPEC + " WHERE name = ?", (name,)).fetchone()
    return None if row is None else _spec(row)


def list_queues(conn: _Conn) -> list[QueueSpec]:
    """Every registered queue, by name."""
    return [_spec(row) for row in conn.execute(_SPEC + " ORDER BY name").fetchall()]


def tx_register(conn: _Conn, now: float, topics: set[str], specs: Sequence[QueueSpec]) -> None:
    """Upsert queue definitions; waiting runs may fit the new limits, hence ``admit``."""
    for s in specs:
        conn.execute(
            _UPSERT,
            (
                s.name,
                s.concurrency,
                s.per_key_concurrency,
                s.rate_limit,
                s.rate_period,
                int(s.priority),
                now,
            ),
        )
    topics.add("admit")


def tx_start(
    conn: _Conn,
    now: float,
    topics: set[str],
    run_id: str,
    created: NewEvent,
    flow: FlowStart,
    insert_events: InsertEvents,
    enqueue_messages: Enqueue,
    first: Sequence[NewEvent],
    enqueue: Sequence[NewMessage],
) -> QueuedStart:
    """A queued start (see ``World.start_queued``): where it landed."""
    spec = get_queue(conn, flow.queue)
    if spec is None:
        raise QueueError(
            f"unknown queue {flow.queue!r}: declare it with wdk.Queue({flow.queue!r}, ...) at"
            " module level in a workflow module, and import that module (or start its"
            " workflow) in this process or a worker first",
            queue=flow.queue,
        )
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
        return QueuedStart(run_id)
    if flow.dedupe_key is not None:
        row = conn.execute(_DEDUPED, (flow.queue, flow.dedupe_key)).fetchone()
        if row is not None:
            return QueuedStart(str(row[0]))
    wait = max(flow.delay or 0.0, flow.debounce or 0.0)
    admit_at = now + wait if wait > 0 else None
    if flow.debounce is not None and flow.key is not None:
        row = conn.execute(_DEBOUNCING, (flow.queue, flow.key)).fetchone()
        if row is not None:
            # The waiting run takes this start's arguments and waits out a new window.
            target = str(row[0])
            conn.execute(
                "UPDATE events SET data = ? WHERE run_id = ? AND seq = 1", (created.data, target)
            )
            new_input = msgpack.unpackb(created.data or b"\x80", raw=False).get("input")
            conn.execute(
                "UPDATE runs SET input = ?, admit_at = ? WHERE run_id = ?",
                (new_input, admit_at, target),
            )
            topics.add("admit")
            return QueuedStart(target)
    insert_events(conn, now, topics, run_id, 0, [created])
    conn.execute(
        _QUEUE_RUN,
        (flow.queue, flow.key, flow.priority, flow.dedupe_key, flow.debounce, admit_at, run_id),
    )
    hold = run_id if first else None
    _, admitted = _admit(conn, now, topics, flow.queue, spec, hold)
    if hold is None or hold not in admitted:
        return QueuedStart(run_id)
    # Admitted at once: the run goes on in this transaction, as a start beside a worker does.
    last = insert_events(conn, now, topics, run_id, 1, first)
    return QueuedStart(run_id, Appended(last, enqueue_messages(conn, now, topics, enqueue)))


def tx_admit(conn: _Conn, now: float, topics: set[str], name: str) -> float | None:
    """Admit what the queue's limits allow; when to look again (see ``World.admit``)."""
    return _admit(conn, now, topics, name)[0]


def _admit(
    conn: _Conn,
    now: float,
    topics: set[str],
    name: str,
    spec: QueueSpec | None = None,
    hold: str | None = None,
) -> tuple[float | None, list[str]]:
    """:func:`tx_admit`, and the runs admitted; ``hold`` is admitted without a message."""
    if conn.execute(_ANY_WAITING, (name,)).fetchone() is None:
        return None, []  # the common end of a queued run: nobody waits
    spec = spec or get_queue(conn, name)
    if spec is None:
        return None, []
    active = 0
    if spec.concurrency is not None:
        active = conn.execute(_ACTIVE, (name,)).fetchone()[0]
    by_key: dict[str | None, int] = {}
    if spec.per_key_concurrency is not None:
        by_key = dict(conn.execute(_ACTIVE_BY_KEY, (name,)).fetchall())
    window: list[float] = []
    if spec.rate_limit is not None and spec.rate_period is not None:
        window = [t for (t,) in conn.execute(_WINDOW, (name, now - spec.rate_period))]
    sql = _WAITING + waiting_order(spec)
    params: tuple[Any, ...] = (name, now)
    limit = candidate_limit(spec, active, window)
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    plan = plan_admission(
        spec,
        now,
        active=active,
        active_by_key=by_key,
        window=window,
        candidates=conn.execute(sql, params).fetchall(),
    )
    if plan.run_ids:
        conn.executemany(_ADMIT, [(now, rid) for rid in plan.run_ids])
        for rid in plan.run_ids:
            if rid == hold:
                continue
            m = start_message(rid)
            conn.execute(q.ENQUEUE, (m.kind, m.run_id, m.key, None, now, 0.0, None, 0))
            topics.add("queue")
    due: float | None = conn.execute(_NEXT_TIME, (name, now)).fetchone()[0]
    if plan.due is not None and conn.execute(_ANY_WAITING, (name,)).fetchone():
        due = plan.due if due is None else min(due, plan.due)
    return due, plan.run_ids


def tx_admit_all(conn: _Conn, now: float, topics: set[str]) -> float | None:
    """:func:`tx_admit` for every queue with waiting runs; the earliest time to look again."""
    due: float | None = None
    for (name,) in conn.execute("SELECT name FROM queues ORDER BY name").fetchall():
        at = tx_admit(conn, now, topics, name)
        if at is not None:
            due = at if due is None else min(due, at)
    return due


#: limited step messages are the kinds from "limit:" up to (not including) "limit;"
LIMITED_ANY = "SELECT 1 FROM queue WHERE kind >= 'limit:' AND kind < 'limit;' LIMIT 1"
_LIMITED_KINDS = (
    "SELECT DISTINCT kind FROM queue WHERE kind >= 'limit:' AND kind < 'limit;'"
    " AND not_before <= ? AND lease_until <= ?"
)
_HELD = "SELECT count(*) FROM queue WHERE kind = ? AND owner IS NOT NULL AND lease_until > ?"
_CLAIMED = "SELECT count(*) FROM step_claims WHERE kind = ? AND at > ?"
_TAKE_KIND = (
    "UPDATE queue SET owner = ?, lease_until = ?, deliveries = deliveries + 1, dirty = NULL"
    " WHERE id = (SELECT id FROM queue WHERE kind = ? AND not_before <= ? AND lease_until <= ?"
    f" ORDER BY not_before, id LIMIT 1) RETURNING {q.MESSAGE_COLUMNS}"
)


def tx_claim_limited(
    conn: _Conn, now: float, topics: set[str], worker_id: str, lease_s: float
) -> tuple[Message | None, bool]:
    """Lease a visible step message with limits that its limits allow (``World``)."""
    kinds = [k for (k,) in conn.execute(_LIMITED_KINDS, (now, now)).fetchall()]
    for kind in sorted(kinds):
        spec = parse_limit_kind(kind)
        if spec.concurrency is not None:
            if conn.execute(_HELD, (kind, now)).fetchone()[0] >= spec.concurrency:
                continue
        if spec.rate_limit is not None and spec.rate_period is not None:
            since = now - spec.rate_period
            if conn.execute(_CLAIMED, (kind, since)).fetchone()[0] >= spec.rate_limit:
                continue
            # kept a minute at least (what `wdk inspect` and tests read), then pruned
            old = now - max(spec.rate_period, 60.0)
            conn.execute("DELETE FROM step_claims WHERE kind = ? AND at <= ?", (kind, old))
            conn.execute("INSERT INTO step_claims (kind, at) VALUES (?, ?)", (kind, now))
        row = conn.execute(_TAKE_KIND, (worker_id, now + lease_s, kind, now, now)).fetchone()
        if row is not None:
            return Message(*row), False
    return None, bool(kinds)
