"""The flow-control methods of :class:`~wdk.worlds.sqlite.SqliteWorld`, kept beside it.

Queue definitions, queued starts, admission and limited step claims; the statements and the
transactions are :mod:`wdk.worlds._sqlite_flow`'s, this mixin only hands them to the world's
writer (``BEGIN IMMEDIATE``, so admission is atomic across processes).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from wdk.worlds import _sqlite_flow as qf
from wdk.worlds._flow import FlowStart, QueueSpec
from wdk.worlds.base import Message, NewEvent, NewMessage, QueuedStart

__all__ = ["SqliteQueues"]

T = TypeVar("T")
_Conn = sqlite3.Connection


class SqliteQueues:
    """Flow control for the SQLite world (mixed into :class:`~wdk.worlds.sqlite.SqliteWorld`)."""

    if TYPE_CHECKING:
        _lock: threading.Lock
        _conn: _Conn | None

        def _connect(self) -> _Conn: ...

        def _write(self, fn: Callable[..., T], *args: Any) -> T: ...

        def _write_light(self, fn: Callable[..., T], *args: Any) -> T: ...

        def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

        def _insert_events(self, *args: Any, **kwargs: Any) -> Any: ...

        @staticmethod
        def _tx_enqueue(
            conn: _Conn, now: float, topics: set[str], messages: Sequence[NewMessage]
        ) -> tuple[int, ...]: ...

    async def register_queues(self, specs: Sequence[QueueSpec]) -> None:
        """Create or update queue definitions (the last writer's limits win)."""
        if specs:
            self._write(qf.tx_register, specs)

    async def get_queue(self, name: str) -> QueueSpec | None:
        """A registered queue, or None."""
        with self._lock:
            return qf.get_queue(self._conn or self._connect(), name)

    async def list_queues(self) -> list[QueueSpec]:
        """Every registered queue, by name."""
        with self._lock:
            return qf.list_queues(self._conn or self._connect())

    async def start_queued(
        self,
        run_id: str,
        created: NewEvent,
        flow: FlowStart,
        *,
        first: Sequence[NewEvent] = (),
        enqueue: Sequence[NewMessage] = (),
    ) -> QueuedStart:
        """Create a queued run and admit what fits, in one transaction (``World``)."""
        return self._write(
            qf.tx_start,
            run_id,
            created,
            flow,
            self._insert_events,
            self._tx_enqueue,
            first,
            enqueue,
        )

    async def admit(self, queue: str | None = None) -> float | None:
        """Admit what the limits allow; when to look again (``World.admit``).

        A plain read looks for waiting runs first: no write lock when none wait.
        """
        if queue is None:
            if not self._query("SELECT 1 FROM runs WHERE status = 'queued' LIMIT 1"):
                return None
            return self._write_light(qf.tx_admit_all)
        return self._write_light(qf.tx_admit, queue)

    async def claim_limited(self, *, worker_id: str, lease_s: float) -> tuple[Message | None, bool]:
        """Lease a step message with limits that its limits allow (``World``)."""
        if not self._query(qf.LIMITED_ANY):
            return None, False
        return self._write_light(qf.tx_claim_limited, worker_id, lease_s)
