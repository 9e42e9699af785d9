"""The SQLite world's views: what special events do besides going into the log, and the runs list.

An append inserts every event, then calls :func:`apply_event` for the few types in
:data:`SPECIAL`, in the same transaction: the runs view (``run_*`` events), live hooks, and a
terminal event's clean-up (hooks disposed, streams closed, queue rows deleted). The rules are
the ones :class:`~wdk.worlds.memory.MemoryWorld` documents; the SQL is in ``_sqlite_schema``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from wdk.worlds import _sqlite_schema as q
from wdk.worlds._cursor import decode_cursor, prefix_upper_bound
from wdk.worlds._payloads import adopted_deployment, hook_spec, run_spec
from wdk.worlds._sqlite_flow import tx_admit
from wdk.worlds.base import EventType, NewEvent, TokenConflict

__all__ = ["SPECIAL", "apply_event", "list_runs_sql"]

_TERMINAL_STATUS = {
    EventType.RUN_COMPLETED: "completed",
    EventType.RUN_FAILED: "failed",
    EventType.RUN_CANCELLED: "cancelled",
}

#: Event types that change more than the log (every other event is only inserted).
SPECIAL = frozenset(
    {
        EventType.RUN_CREATED,
        EventType.RUN_STARTED,
        EventType.RUN_BLOCKED,
        EventType.RUN_UNBLOCKED,
        EventType.RUN_ADOPTED,
        EventType.HOOK_CREATED,
        EventType.HOOK_DISPOSED,
        *EventType.RUN_TERMINAL,
    }
)


def apply_event(
    conn: sqlite3.Connection, now: float, topics: set[str], run_id: str, ev: NewEvent
) -> None:
    """Maintain the runs view, hooks, streams and queue for one event of :data:`SPECIAL`.

    Adds the topics it touches (closed streams) to ``topics``. Raises TokenConflict for a
    token another run's live hook holds; the caller's transaction then writes nothing.
    """
    t = ev.type
    if t == EventType.RUN_CREATED:
        spec = run_spec(ev.data)
        conn.execute(
            q.INSERT_RUN,
            (run_id, spec.workflow_id, now, spec.input, spec.deployment_id, spec.forked_from),
        )
    elif t == EventType.RUN_STARTED:
        conn.execute(q.START_RUN, (now, run_id))
    elif t == EventType.RUN_BLOCKED:
        conn.execute(q.BLOCK_RUN, (ev.data, run_id))
    elif t == EventType.RUN_UNBLOCKED:
        conn.execute(q.UNBLOCK_RUN, (run_id,))
    elif t == EventType.RUN_ADOPTED:
        conn.execute(q.ADOPT_RUN, (adopted_deployment(ev.data), run_id))
    elif t == EventType.HOOK_CREATED:
        _create_hook(conn, now, run_id, ev)
    elif t == EventType.HOOK_DISPOSED:
        conn.execute(q.DISPOSE_HOOK, (run_id, ev.correlation_id or ""))
    else:
        _end_run(conn, now, topics, run_id, ev)


def _create_hook(conn: sqlite3.Connection, now: float, run_id: str, ev: NewEvent) -> None:
    spec = hook_spec(ev.data)
    token = spec.token
    cid = ev.correlation_id or ""
    holder = conn.execute(q.HOOK_HOLDER, (token,)).fetchone()
    if holder is not None:
        if holder == (run_id, cid):
            return  # the same hook registered again
        raise TokenConflict(token, holder[0])
    conn.execute(q.INSERT_HOOK, (token, run_id, cid, spec.metadata, spec.kind, now))


def _end_run(
    conn: sqlite3.Connection, now: float, topics: set[str], run_id: str, ev: NewEvent
) -> None:
    """A terminal event: final status, hooks disposed, streams closed, messages deleted."""
    t = ev.type
    output = ev.data if t == EventType.RUN_COMPLETED else None
    error = ev.data if t == EventType.RUN_FAILED else None
    ended = conn.execute(q.END_RUN, (_TERMINAL_STATUS[t], now, output, error, run_id))
    queue = ended.fetchone()
    conn.execute(q.DISPOSE_RUN_HOOKS, (run_id,))
    for (namespace,) in conn.execute(q.CLOSE_RUN_STREAMS, (run_id,)).fetchall():
        topics.add(f"stream:{run_id}:{namespace}")
    conn.execute(q.DELETE_RUN_MESSAGES, (run_id,))
    if queue is not None and queue[0] is not None:
        # Its slot is free: the next runs of its queue start in this same transaction.
        tx_admit(conn, now, topics, queue[0])


def list_runs_sql(
    *,
    workflow_id: str | None,
    status: str | None,
    cursor: str | None,
    id_prefix: str | None,
    deployment_id: str | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The ``list_runs`` query and its parameters: ``limit`` runs newest first, filtered.

    The id prefix is a range on the primary key (text compares by its UTF-8 bytes, i.e. by
    code point, under SQLite's default BINARY collation), so ``%`` and ``_`` mean themselves
    and the key's index finds the matching ids.
    """
    where: list[str] = []
    params: list[Any] = []
    if workflow_id is not None:
        where.append("workflow_id = ?")
        params.append(workflow_id)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if deployment_id is not None:
        where.append("deployment_id = ?")
        params.append(deployment_id)
    if id_prefix:
        where.append("run_id >= ?")
        params.append(id_prefix)
        upper = prefix_upper_bound(id_prefix)
        if upper is not None:
            where.append("run_id < ?")
            params.append(upper)
    if cursor:
        created_at, run_id = decode_cursor(cursor)
        where.append("(created_at < ? OR (created_at = ? AND run_id < ?))")
        params += [created_at, created_at, run_id]
    sql = f"SELECT {q.RUN_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
    return sql, [*params, limit]
