"""The schedule methods of :class:`~wdk.worlds.postgres.PostgresWorld`, kept beside it.

One row per schedule (migration 4). The update is a compare-and-set on ``version`` in one
statement, so two workers handling one tick cannot both move the schedule on from the same
state; every write NOTIFYs the ``schedules`` topic, waking tickers on other machines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from wdk.worlds.base import ScheduleInfo

__all__ = ["PgSchedules"]

_COLUMNS = (
    "schedule_id, spec, paused, last_fire, next_fire, buffered, last_run_id, updated_at, version"
)


def _info(row: Sequence[Any]) -> ScheduleInfo:
    sid, spec, paused, last, nxt, buffered, run_id, updated, version = row
    return ScheduleInfo(
        sid, bytes(spec), bool(paused), last, nxt, buffered, run_id, float(updated), int(version)
    )


class PgSchedules:
    """Schedules for PostgreSQL (mixed into :class:`~wdk.worlds.postgres.PostgresWorld`)."""

    _s: str
    _clock: Callable[[], float]

    if TYPE_CHECKING:

        def _conn(self) -> AbstractAsyncContextManager[Any]: ...

        def _tx(self, topics: set[str]) -> AbstractAsyncContextManager[Any]: ...

    async def put_schedule(
        self, schedule_id: str, spec: bytes, *, last_fire: float, next_fire: float | None
    ) -> ScheduleInfo:
        """Insert the schedule, or replace an existing one's spec keeping its state."""
        existing = await self.get_schedule(schedule_id)
        if existing is not None and existing.spec == spec:
            return existing  # every worker registers on start: no write, no NOTIFY
        async with self._tx({"schedules"}) as conn:
            cur = await conn.execute(
                f"""INSERT INTO {self._s}.schedules
                    (schedule_id, spec, last_fire, next_fire, updated_at)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (schedule_id) DO UPDATE SET spec = excluded.spec,
                    updated_at = excluded.updated_at, version = schedules.version + 1
                RETURNING {_COLUMNS}""",
                (schedule_id, spec, last_fire, next_fire, self._clock()),
            )
            row = await cur.fetchone()
        return _info(row)

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo | None:
        """The schedule with this id, or None."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self._s}.schedules WHERE schedule_id = %s",
                (schedule_id,),
            )
            row = await cur.fetchone()
        return _info(row) if row else None

    async def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by id."""
        async with self._conn() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self._s}.schedules ORDER BY schedule_id"
            )
            rows = await cur.fetchall()
        return [_info(row) for row in rows]

    async def update_schedule(self, info: ScheduleInfo) -> ScheduleInfo | None:
        """Write ``info``'s state over the version it names; None if that moved on."""
        async with self._tx({"schedules"}) as conn:
            cur = await conn.execute(
                f"""UPDATE {self._s}.schedules SET paused = %s, last_fire = %s, next_fire = %s,
                    buffered = %s, last_run_id = %s, updated_at = %s, version = version + 1
                WHERE schedule_id = %s AND version = %s
                RETURNING {_COLUMNS}""",
                (
                    info.paused,
                    info.last_fire,
                    info.next_fire,
                    info.buffered,
                    info.last_run_id,
                    self._clock(),
                    info.schedule_id,
                    info.version,
                ),
            )
            row = await cur.fetchone()
        return _info(row) if row else None
