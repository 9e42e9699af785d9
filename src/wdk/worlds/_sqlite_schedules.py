"""The schedule methods of :class:`~wdk.worlds.sqlite.SqliteWorld`, kept beside it.

One row per schedule in ``schedules``; every write bumps ``version`` and touches the
``schedules`` topic (so tickers in other processes wake on a pause or a resume). The update is
a compare-and-set on ``version``, which is what stops two workers moving one schedule on from
the same state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from wdk.worlds.base import ScheduleInfo

__all__ = ["SqliteSchedules"]

T = TypeVar("T")
_Conn = sqlite3.Connection

_COLUMNS = (
    "schedule_id, spec, paused, last_fire, next_fire, buffered, last_run_id, updated_at, version"
)
_SELECT_ONE = f"SELECT {_COLUMNS} FROM schedules WHERE schedule_id = ?"
_SELECT_ALL = f"SELECT {_COLUMNS} FROM schedules ORDER BY schedule_id"
_INSERT = (
    "INSERT INTO schedules (schedule_id, spec, last_fire, next_fire, updated_at)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (schedule_id) DO UPDATE SET spec = excluded.spec,"
    " updated_at = excluded.updated_at, version = version + 1 WHERE spec IS NOT excluded.spec"
)
_UPDATE = (
    "UPDATE schedules SET paused = ?, last_fire = ?, next_fire = ?, buffered = ?,"
    " last_run_id = ?, updated_at = ?, version = version + 1"
    " WHERE schedule_id = ? AND version = ?"
)


def _info(row: Sequence[Any]) -> ScheduleInfo:
    sid, spec, paused, last, nxt, buffered, run_id, updated, version = row
    return ScheduleInfo(
        sid, bytes(spec), bool(paused), last, nxt, buffered, run_id, updated, version
    )


class SqliteSchedules:
    """Schedules for the SQLite world (mixed into :class:`~wdk.worlds.sqlite.SqliteWorld`)."""

    if TYPE_CHECKING:

        def _write(self, fn: Callable[..., T], *args: Any) -> T: ...

        def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    async def put_schedule(
        self, schedule_id: str, spec: bytes, *, last_fire: float, next_fire: float | None
    ) -> ScheduleInfo:
        """Insert the schedule, or replace an existing one's spec keeping its state."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> ScheduleInfo:
            cur = conn.execute(_INSERT, (schedule_id, spec, last_fire, next_fire, now))
            if cur.rowcount:
                topics.add("schedules")
            return _info(conn.execute(_SELECT_ONE, (schedule_id,)).fetchone())

        return self._write(tx)

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo | None:
        """The schedule with this id, or None."""
        rows = self._query(_SELECT_ONE, (schedule_id,))
        return _info(rows[0]) if rows else None

    async def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by id."""
        return [_info(row) for row in self._query(_SELECT_ALL)]

    async def update_schedule(self, info: ScheduleInfo) -> ScheduleInfo | None:
        """Write ``info``'s state over the version it names; None if that moved on."""

        def tx(conn: _Conn, now: float, topics: set[str]) -> ScheduleInfo | None:
            params = (
                int(info.paused),
                info.last_fire,
                info.next_fire,
                info.buffered,
                info.last_run_id,
                now,
                info.schedule_id,
                info.version,
            )
            if not conn.execute(_UPDATE, params).rowcount:
                return None
            topics.add("schedules")
            return _info(conn.execute(_SELECT_ONE, (info.schedule_id,)).fetchone())

        return self._write(tx)
