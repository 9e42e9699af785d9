"""The event log half of the PostgreSQL world: appends as requests to ``append_batch``.

The rules themselves (dense seqs, exactly once, the views) live in the schema's PL/pgSQL
functions; see ``_pg_functions``. This module turns an append into the JSON request those
functions read, and their per-request answers back into :class:`Appended` or the error the
World protocol names.
"""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Sequence
from typing import Any

import psycopg

from wdk.worlds._payloads import adopted_deployment, hook_spec, run_spec
from wdk.worlds.base import (
    Appended,
    DuplicateEvent,
    EventType,
    NewEvent,
    NewMessage,
    TokenConflict,
)

__all__ = ["LogSQL", "Outcome", "encode_request"]

_DUPLICATE = "WDK01"
_TOKEN_HELD = "WDK02"

#: Events the database must look at beyond inserting them (runs view, hooks, streams).
_SPECIAL = frozenset(
    {
        EventType.RUN_CREATED,
        EventType.RUN_STARTED,
        EventType.RUN_BLOCKED,
        EventType.RUN_UNBLOCKED,
        EventType.RUN_ADOPTED,
        EventType.HOOK_CREATED,
        EventType.HOOK_DISPOSED,
    }
    | EventType.RUN_TERMINAL
)

#: What one request of a batch came to: what it wrote, or why it wrote nothing.
Outcome = Appended | DuplicateEvent | TokenConflict


def _b64(data: bytes | None) -> str | None:
    return None if data is None else b64encode(data).decode("ascii")


def _event(event: NewEvent) -> list[Any]:
    """One event of a request, with the payload fields ``append_one`` keeps decoded."""
    row: list[Any] = [event.type, event.correlation_id, _b64(event.data), event.dedup_key]
    if event.type == EventType.RUN_CREATED:
        run = run_spec(event.data)
        row += [run.workflow_id, _b64(run.input), None, run.deployment_id, run.forked_from]
    elif event.type == EventType.HOOK_CREATED:
        hook = hook_spec(event.data)
        row += [hook.token, _b64(hook.metadata), hook.kind]
    elif event.type == EventType.RUN_ADOPTED:
        row.append(adopted_deployment(event.data))
    return row


def encode_request(
    run_id: str,
    events: Sequence[NewEvent],
    *,
    enqueue: Sequence[NewMessage],
    ack: Sequence[int],
    expect_seq: int | None,
    now: float,
) -> dict[str, Any]:
    """One append as the JSON request ``append_one`` reads (see ``_pg_functions``)."""
    return {
        "r": run_id,
        "e": [_event(e) for e in events],
        "s": any(e.type in _SPECIAL for e in events),
        "x": expect_seq,
        "a": list(ack),
        "m": [
            [
                m.kind,
                m.run_id,
                m.key,
                _b64(m.payload),
                float(m.not_before or now),
                float(m.lease_s),
                m.lease_to,
            ]
            for m in enqueue
        ],
    }


def _error(run_id: str, sqlstate: str | None, message: str, detail: str) -> Exception | None:
    if sqlstate == _DUPLICATE:
        return DuplicateEvent(run_id, message)
    if sqlstate == _TOKEN_HELD:
        return TokenConflict(message, detail)
    return None


class LogSQL:
    """Event-log statements for one schema."""

    def __init__(self, quoted_schema: str) -> None:
        s = quoted_schema
        self._batch = f"SELECT results, topics FROM {s}.append_batch(%s, %s::jsonb, %s::text)"
        self._lock = f"""
            INSERT INTO {s}.run_seq AS r (run_id, last_seq) VALUES (%s, 0)
            ON CONFLICT (run_id) DO UPDATE SET last_seq = r.last_seq"""

    async def lock_run(self, conn: psycopg.AsyncConnection[Any], run_id: str) -> None:
        """Take the run's append lock (its ``run_seq`` row) until the transaction ends."""
        await conn.execute(self._lock, (run_id,))

    async def append_batch(
        self,
        conn: psycopg.AsyncConnection[Any],
        requests: Sequence[dict[str, Any]],
        *,
        synchronous_commit: str,
        now: float,
    ) -> tuple[list[Outcome], list[str]]:
        """Run ``requests`` in one statement; their outcomes and the topics it NOTIFYed.

        ``synchronous_commit`` is the level the statement commits at. A batch of one raises
        its DuplicateEvent or TokenConflict; a larger batch reports them per request (the
        others still commit).
        """
        payload = json.dumps(requests, separators=(",", ":"))
        try:
            cur = await conn.execute(self._batch, (now, payload, synchronous_commit))
        except psycopg.Error as exc:
            if len(requests) == 1:
                diag = exc.diag
                error = _error(
                    requests[0]["r"],
                    exc.sqlstate,
                    diag.message_primary or "",
                    diag.message_detail or "",
                )
                if error is not None:
                    raise error from None
            raise
        row = await cur.fetchone()
        assert row is not None
        results, topics = row
        outcomes: list[Outcome] = []
        for request, result in zip(requests, results, strict=True):
            if result[0] is None:
                error = _error(request["r"], result[2], result[3] or "", result[4] or "")
                assert isinstance(error, DuplicateEvent | TokenConflict), result
                outcomes.append(error)
            else:
                outcomes.append(Appended(int(result[0]), tuple(result[1])))
        return outcomes, list(topics)
