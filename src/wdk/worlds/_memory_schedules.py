"""The schedule methods of :class:`~wdk.worlds.memory.MemoryWorld`, kept beside it.

A dict of :class:`~wdk.worlds.base.ScheduleInfo` by id under the store's lock; the rules are
the ones :class:`~wdk.worlds.base.World` documents (a version compare-and-set per update).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from wdk.worlds.base import ScheduleInfo

if TYPE_CHECKING:
    from wdk.worlds.memory import _Store

__all__ = ["MemorySchedules"]

_TOPICS = ("schedules",)


class MemorySchedules:
    """Schedules for the memory world (mixed into :class:`~wdk.worlds.memory.MemoryWorld`)."""

    _clock: Callable[[], float]

    if TYPE_CHECKING:

        def _check(self) -> _Store: ...

    async def put_schedule(
        self, schedule_id: str, spec: bytes, *, last_fire: float, next_fire: float | None
    ) -> ScheduleInfo:
        """Insert the schedule, or replace an existing one's spec keeping its state."""
        store = self._check()
        with store.lock:
            old = store.schedules.get(schedule_id)
            if old is not None and old.spec == spec:
                return old
            now = self._clock()
            if old is None:
                info = ScheduleInfo(
                    schedule_id, spec, last_fire=last_fire, next_fire=next_fire, updated_at=now
                )
            else:
                info = dataclasses.replace(old, spec=spec, updated_at=now, version=old.version + 1)
            store.schedules[schedule_id] = info
        store.hub.notify(_TOPICS)
        return info

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo | None:
        """The schedule with this id, or None."""
        store = self._check()
        with store.lock:
            return store.schedules.get(schedule_id)

    async def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by id."""
        store = self._check()
        with store.lock:
            return [store.schedules[k] for k in sorted(store.schedules)]

    async def update_schedule(self, info: ScheduleInfo) -> ScheduleInfo | None:
        """Write ``info``'s state over the version it names; None if that moved on."""
        store = self._check()
        with store.lock:
            old = store.schedules.get(info.schedule_id)
            if old is None or old.version != info.version:
                return None
            new = dataclasses.replace(
                info, spec=old.spec, updated_at=self._clock(), version=old.version + 1
            )
            store.schedules[info.schedule_id] = new
        store.hub.notify(_TOPICS)
        return new
