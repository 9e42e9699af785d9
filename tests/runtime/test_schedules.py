"""wdk.schedule: definitions and their errors, fire times, and one ticker pass at a time.

The ticker's decisions are driven here by hand with an explicit ``now`` on a memory world, so
catchup, overlap, pause and the two-workers race are exact; the real-process behaviour is in
test_schedules_processes.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

from wdk import Schedule, ScheduleError, schedule
from wdk.runtime._schedule_spec import CATCHUP_CAP, registered, unregister_all
from wdk.runtime._ticker import set_paused, tick, trigger
from wdk.worlds.base import EventType, NewEvent
from wdk.worlds.memory import MemoryWorld

pytestmark = pytest.mark.anyio

WF = "workflow//jobs.py//report"
T0 = 1_800_000_000.0  # a multiple of 2 s and of 10 s


async def report(kind: str) -> str:
    "use workflow"
    return kind


def not_a_workflow() -> None:
    pass


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    unregister_all()
    yield
    unregister_all()


def every(seconds: float, **kw: Any) -> Schedule:
    return Schedule("tick", WF, b"\x90", every=seconds, **kw)


async def runs_of(world: MemoryWorld) -> list[str]:
    return sorted(r.run_id for r in (await world.list_runs(limit=1000)).runs)


async def finish(world: MemoryWorld, run_id: str) -> None:
    await world.append(run_id, [NewEvent(EventType.RUN_COMPLETED, None, None, "run:end")])


# -- definitions -----------------------------------------------------------------------------


def test_a_schedule_is_kept_with_its_workflow_arguments_and_place() -> None:
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    made = schedule("nightly", cron="0 3 * * *", workflow=report, args=["daily"],
                    timezone="Europe/Berlin")  # fmt: skip
    assert made is not None and registered() == [made]
    assert made.workflow_id.endswith("//report") and made.workflow_id.startswith("workflow//")
    assert made.location.endswith(f"test_schedules.py:{line}")
    assert Schedule.from_spec("nightly", made.spec()) == dataclasses.replace(made, location="")
    assert made.when == "cron 0 3 * * * (Europe/Berlin)"
    assert schedule("ticker", every="2s", workflow=report, args=["x"]).when == "every 2s"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "0 3 * * * * *"}, "has 7 fields: use 5 (minute hour day month weekday) or 6"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' does not"),
        ({"cron": "61 * * * *"}, "cron '61 * * * *' is not valid: Bad minute"),
        ({"cron": "0 3 * * *", "workflow": not_a_workflow}, "is not a workflow"),
        ({"cron": "0 3 * * *", "every": "2s"}, "give exactly one of cron="),
        ({}, "give exactly one of cron="),
        ({"every": "1500ms"}, "must be a whole number of seconds"),
        ({"every": "soon"}, "every='soon'"),
        ({"every": "2s", "overlap": "queue"}, "overlap='queue' is not one of skip, allow"),
        ({"every": "2s", "catchup": "some"}, "catchup='some' is not one of none, latest, all"),
        ({"every": "2s", "args": [object()]}, "its arguments cannot be stored"),
        ({"every": "2s", "args": "daily"}, "args must be a list or tuple"),
    ],
)
def test_bad_input_is_refused_at_the_call_with_its_file_and_line(
    kwargs: dict[str, Any], message: str
) -> None:
    kwargs.setdefault("workflow", report)
    line = inspect.currentframe().f_lineno + 2  # type: ignore[union-attr]
    with pytest.raises(ScheduleError) as caught:
        schedule("bad", **kwargs)
    text = str(caught.value)
    assert message in text, text
    assert f"test_schedules.py:{line}" in text and text.startswith("schedule 'bad' at ")
    assert caught.value.schedule_id == "bad"
    assert registered() == []  # nothing kept


def test_an_id_defined_twice_in_two_places_is_refused() -> None:
    schedule("dup", every="2s", workflow=report, args=["a"])
    with pytest.raises(ScheduleError, match="is already defined at .*test_schedules.py"):
        schedule("dup", every="3s", workflow=report, args=["a"])
    with pytest.raises(ScheduleError, match="the id must be"):
        schedule("no spaces", every="2s", workflow=report)


def test_in_workflow_code_a_schedule_call_does_nothing() -> None:
    # The sandbox imports a workflow module again for every run, with __wdk_step__ in its
    # globals: there schedule() neither validates nor registers.
    scope: dict[str, Any] = {"__wdk_step__": object(), "schedule": schedule}
    exec("made = schedule('x', cron='not even a cron', workflow=None)", scope)  # noqa: S102
    assert scope["made"] is None and registered() == []


# -- fire times ------------------------------------------------------------------------------


def test_intervals_fire_on_multiples_of_their_length() -> None:
    s = every(2)
    assert s.fires(T0, T0 + 7, 10) == [T0 + 2, T0 + 4, T0 + 6]
    assert s.fires(T0, T0 + 7, 2) == [T0 + 4, T0 + 6]  # the latest ones
    assert s.fires(T0 + 0.5, T0 + 1.9, 10) == []
    assert s.next_fire(T0) == T0 + 2 and s.next_fire(T0 + 0.1) == T0 + 2


def test_cron_fires_in_its_timezone_with_an_optional_seconds_field() -> None:
    berlin = Schedule("n", WF, b"", cron="0 3 * * *", timezone="Europe/Berlin")
    winter = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC).timestamp()
    summer = dt.datetime(2026, 7, 10, 12, tzinfo=dt.UTC).timestamp()
    assert dt.datetime.fromtimestamp(berlin.next_fire(winter), dt.UTC).hour == 2
    assert dt.datetime.fromtimestamp(berlin.next_fire(summer), dt.UTC).hour == 1
    seconds = Schedule("s", WF, b"", cron="*/20 * * * * *")
    assert seconds.fires(T0, T0 + 60, 10) == [T0 + 20, T0 + 40, T0 + 60]
    assert seconds.fires(T0, T0 + 60, 1) == [T0 + 60]
    assert seconds.next_fire(T0) == T0 + 20


def test_a_tick_run_id_is_the_schedule_and_the_utc_fire_time() -> None:
    assert every(2).run_id(T0) == "sched-tick-20270115T080000Z"


# -- one ticker pass at a time ---------------------------------------------------------------


async def test_each_tick_starts_one_run_and_a_second_worker_on_stale_state_adds_none() -> None:
    world = MemoryWorld()
    s = every(2, overlap="allow")
    first = await tick(world, s, T0)  # registers at T0: nothing due yet
    assert await runs_of(world) == [] and first.next_fire == T0 + 2
    after = await tick(world, s, T0 + 2.01)
    assert await runs_of(world) == [s.run_id(T0 + 2)]
    assert (after.last_fire, after.next_fire, after.last_run_id) == (
        T0 + 2,
        T0 + 4,
        s.run_id(T0 + 2),
    )
    # A second worker that read the state before the first moved it on: it starts the same
    # id (a no-op) and its compare-and-set loses, leaving the first worker's state.
    stale = world.get_schedule

    async def old_state(_: str) -> Any:
        return first

    world.get_schedule = old_state  # type: ignore[method-assign]
    try:
        await tick(world, s, T0 + 2.02)
    finally:
        world.get_schedule = stale  # type: ignore[method-assign]
    assert await runs_of(world) == [s.run_id(T0 + 2)]
    assert await world.get_schedule("tick") == after
    events = await world.read_events(s.run_id(T0 + 2))
    assert [e.type for e in events] == ["run_created"]
    stored = msgpack.unpackb(events[0].data)
    assert stored["workflow_id"] == WF and stored["input"] == b"\x90"


@pytest.mark.parametrize(
    ("catchup", "started"), [("none", []), ("latest", [6]), ("all", [2, 4, 6])]
)
async def test_ticks_missed_while_no_worker_ran_follow_catchup(
    catchup: str, started: list[int]
) -> None:
    world = MemoryWorld()
    s = every(2, overlap="allow", catchup=catchup)
    await tick(world, s, T0)
    await tick(world, s, T0 + 7)  # three ticks (T0+2, +4, +6) went by with no worker
    assert await runs_of(world) == [s.run_id(T0 + k) for k in started]
    info = await world.get_schedule("tick")
    assert info is not None and (info.last_fire, info.next_fire) == (T0 + 6, T0 + 8)
    await tick(world, s, T0 + 8)  # on time again: every policy starts it
    assert s.run_id(T0 + 8) in await runs_of(world)


async def test_catchup_none_starts_a_single_late_tick_unless_it_is_long_missed() -> None:
    world = MemoryWorld()
    s = Schedule("n", WF, b"\x90", cron="0 * * * *", catchup="none")
    await tick(world, s, T0)
    await tick(world, s, T0 + 3600 + 5)  # 5 s late: late, not missed
    assert len(await runs_of(world)) == 1
    await tick(world, s, T0 + 7200 + 61)  # found 61 s after its time: missed
    assert len(await runs_of(world)) == 1


async def test_catchup_all_is_capped() -> None:
    world = MemoryWorld()
    s = every(1, overlap="allow", catchup="all")
    await tick(world, s, T0)
    await tick(world, s, T0 + 1000)
    ids = await runs_of(world)
    assert len(ids) == CATCHUP_CAP and ids[-1] == s.run_id(T0 + 1000)


async def test_overlap_skip_drops_a_tick_while_the_previous_run_goes_on() -> None:
    world = MemoryWorld()
    s = every(2, overlap="skip")
    await tick(world, s, T0)
    await tick(world, s, T0 + 2)
    await tick(world, s, T0 + 4)  # the T0+2 run has not finished
    assert await runs_of(world) == [s.run_id(T0 + 2)]
    await finish(world, s.run_id(T0 + 2))
    await tick(world, s, T0 + 6)
    assert await runs_of(world) == [s.run_id(T0 + 2), s.run_id(T0 + 6)]


async def test_overlap_buffer_one_starts_the_latest_waiting_tick_when_the_run_ends() -> None:
    world = MemoryWorld()
    s = every(2, overlap="buffer_one")
    await tick(world, s, T0)
    await tick(world, s, T0 + 2)
    await tick(world, s, T0 + 4)
    info = await tick(world, s, T0 + 6)  # two ticks while it runs: one is kept, the latest
    assert info.buffered == T0 + 6 and await runs_of(world) == [s.run_id(T0 + 2)]
    await finish(world, s.run_id(T0 + 2))
    info = await tick(world, s, T0 + 6.5)  # no tick due: the buffered one starts
    assert info.buffered is None and info.last_run_id == s.run_id(T0 + 6)
    assert await runs_of(world) == [s.run_id(T0 + 2), s.run_id(T0 + 6)]


async def test_a_paused_schedule_starts_nothing_and_skips_its_paused_ticks_on_resume() -> None:
    world = MemoryWorld()
    s = every(2, overlap="allow", catchup="all")
    await tick(world, s, T0)
    paused = await set_paused(world, "tick", True, T0 + 1)
    assert paused.paused
    await tick(world, s, T0 + 9)
    assert await runs_of(world) == []
    resumed = await set_paused(world, "tick", False, T0 + 9)
    assert not resumed.paused and (resumed.last_fire, resumed.next_fire) == (T0 + 9, T0 + 10)
    await tick(world, s, T0 + 10)
    assert await runs_of(world) == [s.run_id(T0 + 10)]
    with pytest.raises(ScheduleError, match="no schedule has id 'nope'.*wdk schedules list"):
        await set_paused(world, "nope", True, T0)


async def test_trigger_starts_a_run_now_that_overlap_then_waits_on() -> None:
    world = MemoryWorld()
    s = every(2, overlap="skip")
    await tick(world, s, T0)
    run_id = await trigger(world, "tick")
    assert run_id.startswith("sched-tick-manual-") and await runs_of(world) == [run_id]
    info = await world.get_schedule("tick")
    assert info is not None and info.last_run_id == run_id
    await tick(world, s, T0 + 2)  # the triggered run is still going: skipped
    assert await runs_of(world) == [run_id]


async def test_the_ticker_sleeps_until_the_next_fire_time_or_the_buffered_run_ends() -> None:
    from wdk.runtime._ticker import Ticker

    now = [T0 + 0.5]
    world = MemoryWorld(clock=lambda: now[0])
    schedule("a", every="10s", workflow=report, args=["a"], overlap="buffer_one")
    schedule("b", cron="*/3 * * * * *", workflow=report, args=["b"])
    ticker = Ticker(world, lambda: now[0])
    wake, topics = await ticker.pass_once()
    assert (wake, topics) == (T0 + 3, ["schedules"])  # b's next tick; no polling
    assert [s.schedule_id for s in await world.list_schedules()] == ["a", "b"]
    now[0] = T0 + 10
    await ticker.pass_once()
    now[0] = T0 + 20  # a's run (T0+10) has not ended: T0+20 is buffered behind it
    wake, topics = await ticker.pass_once()
    a_run = Schedule("a", WF, b"", every=10).run_id(T0 + 10)
    assert topics == ["schedules", f"done:{a_run}"] and wake == T0 + 21


async def test_a_ticker_without_schedules_waits_for_one_to_be_defined() -> None:
    import time

    import anyio

    from wdk.runtime._ticker import Ticker

    world = MemoryWorld()
    ticker = Ticker(world, time.time)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker.run, lambda: False)
        await anyio.wait_all_tasks_blocked()
        assert ticker.passes == 0  # nothing defined: no pass, no wait on the world
        schedule("late", every="1h", workflow=report, args=["x"])  # e.g. a lazy import
        with anyio.fail_after(30):
            while await world.get_schedule("late") is None:
                await world.wait_for_change(["schedules"], 5)
        tg.cancel_scope.cancel()
    assert ticker.passes >= 1


async def test_a_changed_definition_gets_its_next_fire_time_written() -> None:
    world = MemoryWorld()
    await tick(world, every(10), T0 + 1)
    info = await tick(world, every(4), T0 + 2)  # redeployed with another interval
    assert info.next_fire == T0 + 4
    assert (await tick(world, every(4), T0 + 3)).version == info.version  # no write when idle
