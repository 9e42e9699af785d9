"""World conformance: schedules (registration, listing, the compare-and-set update)."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest

from wdk.worlds.base import ScheduleInfo

pytestmark = pytest.mark.anyio


async def test_a_new_schedule_starts_at_the_given_tick_unpaused(world: Any, clock: Any) -> None:
    info = await world.put_schedule("nightly", b"spec1", last_fire=100.0, next_fire=200.0)
    assert info == ScheduleInfo(
        "nightly", b"spec1", False, 100.0, 200.0, None, None, clock(), info.version
    )
    assert await world.get_schedule("nightly") == info
    assert await world.get_schedule("other") is None


async def test_registering_again_keeps_the_state_and_replaces_only_a_changed_spec(
    world: Any, clock: Any
) -> None:
    first = await world.put_schedule("s", b"spec1", last_fire=100.0, next_fire=200.0)
    moved = await world.update_schedule(
        dataclasses.replace(first, paused=True, last_fire=150.0, last_run_id="r1", buffered=160.0)
    )
    assert moved is not None
    same = await world.put_schedule("s", b"spec1", last_fire=999.0, next_fire=999.0)
    assert same == moved  # a worker starting again writes nothing
    clock.advance(5)
    changed = await world.put_schedule("s", b"spec2", last_fire=999.0, next_fire=999.0)
    assert changed.spec == b"spec2" and changed.version > moved.version
    assert (changed.paused, changed.last_fire, changed.last_run_id, changed.buffered) == (
        True,
        150.0,
        "r1",
        160.0,
    )


async def test_an_update_writes_over_its_version_only(world: Any, clock: Any) -> None:
    info = await world.put_schedule("s", b"spec", last_fire=100.0, next_fire=102.0)
    clock.advance(1)
    won = await world.update_schedule(
        dataclasses.replace(info, last_fire=102.0, next_fire=104.0, last_run_id="sched-s-1")
    )
    assert won is not None and won.version == info.version + 1 and won.updated_at == clock()
    assert (won.last_fire, won.next_fire, won.last_run_id) == (102.0, 104.0, "sched-s-1")
    # A second worker that read the same state loses and writes nothing.
    lost = await world.update_schedule(dataclasses.replace(info, last_fire=102.0, paused=True))
    assert lost is None
    assert await world.get_schedule("s") == won
    # The spec is not the update's to change; an unknown schedule is None.
    again = await world.update_schedule(dataclasses.replace(won, spec=b"other", paused=True))
    assert again is not None and again.spec == b"spec" and again.paused
    assert await world.update_schedule(dataclasses.replace(won, schedule_id="nope")) is None


async def test_schedules_are_listed_by_id(world: Any) -> None:
    for sid in ("b", "a", "c"):
        await world.put_schedule(sid, sid.encode(), last_fire=1.0, next_fire=None)
    assert [s.schedule_id for s in await world.list_schedules()] == ["a", "b", "c"]
    assert (await world.list_schedules())[0].next_fire is None


async def test_a_schedule_update_wakes_waiters_on_the_schedules_topic(world: Any) -> None:
    info = await world.put_schedule("s", b"spec", last_fire=1.0, next_fire=2.0)
    woken: list[bool] = []

    async def waiter() -> None:
        woken.append(await world.wait_for_change(["schedules"], 30))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        await world.update_schedule(dataclasses.replace(info, paused=True))
    assert woken == [True]
