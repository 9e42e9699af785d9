"""The schedule ticker, and what ``wdk schedules`` and the HTTP API do to a schedule.

Every worker runs a :class:`Ticker` over the schedules its process defined (the modules it
imported). The ticker sleeps until the earliest next fire time (or a change to a schedule,
or a buffered tick's previous run ending) and then makes one pass, :func:`tick` per schedule:

1. read the schedule's state from the world (registering it there on first sight);
2. work out the due ticks, ``last_fire < t <= now``, and which of them start a run, by
   ``catchup`` (missed ticks) and ``overlap`` (the previous run still going);
3. start those runs, each under its deterministic id (``sched-<id>-<fire time>``): a start of
   an existing id writes nothing, so two workers on one tick make one run;
4. move the state on (last tick, next fire, buffered tick, last run) with a compare-and-set on
   its version: a worker that read an older state loses and leaves the schedule as the
   winner wrote it.

Starting before moving on means a worker that dies between the two leaves the ticks due, and
the next pass (its own or another worker's) starts the same ids again, which is harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable

import anyio
import msgpack

from wdk._ids import new_run_id
from wdk.errors import ScheduleError
from wdk.runtime._keys import wf_message
from wdk.runtime._loader import current_deployment
from wdk.runtime._schedule_spec import CATCHUP_CAP, ON_TIME_S, Schedule, on_register, registered
from wdk.worlds.base import (
    DuplicateEvent,
    EventType,
    NewEvent,
    RunStatus,
    ScheduleInfo,
    World,
)

__all__ = [
    "MAX_SLEEP_S",
    "Ticker",
    "get_schedule",
    "set_paused",
    "start_run",
    "tick",
    "trigger",
]

log = logging.getLogger("wdk.schedules")

#: The longest a ticker sleeps between passes, whatever the next fire time: a schedule
#: defined by a module imported later, or a clock step, is seen within this.
MAX_SLEEP_S = 30.0
_CAS_TRIES = 20


async def start_run(world: World, sched: Schedule, run_id: str) -> bool:
    """Create ``run_id`` as a run of the schedule's workflow; False if it already exists.

    The same write as ``wdk.api.start`` (which lives a layer above): ``run_created`` with the
    stored arguments and a wake-up message, in one append whose dedup key makes a second
    start of the id a no-op.
    """
    fields: dict[str, object] = {
        "workflow_id": sched.workflow_id,
        "input": sched.args,
        "seed": secrets.token_bytes(16),
    }
    deployment = current_deployment(sched.workflow_id)
    if deployment is not None:
        fields["deployment_id"] = deployment
    data = msgpack.packb(fields, use_bin_type=True)
    created = NewEvent(EventType.RUN_CREATED, None, data, "run:created")
    try:
        await world.append(run_id, [created], enqueue=[wf_message(run_id)])
    except DuplicateEvent:
        return False
    return True


async def _register(world: World, sched: Schedule, now: float) -> ScheduleInfo:
    return await world.put_schedule(
        sched.schedule_id, sched.spec(), last_fire=now, next_fire=sched.next_fire(now)
    )


async def _running(world: World, run_id: str | None) -> bool:
    if run_id is None:
        return False
    info = await world.get_run(run_id)
    return info is not None and info.status not in RunStatus.TERMINAL


def _starting(sched: Schedule, due: list[float], now: float) -> list[float]:
    """Which due ticks start a run, by ``catchup`` (before ``overlap`` has its say)."""
    if sched.catchup == "all":
        return due
    if sched.catchup == "latest":
        return due[-1:]
    # none: a tick is missed if another fell due after it, or it is found long after.
    return due if len(due) == 1 and now - due[0] <= ON_TIME_S else []


async def tick(world: World, sched: Schedule, now: float) -> ScheduleInfo:
    """One pass of one schedule at ``now``: start what is due, move the state on.

    Returns the schedule's state afterwards (as this worker wrote it, or as it found it when
    another worker moved it on first).
    """
    info = await world.get_schedule(sched.schedule_id) or await _register(world, sched, now)
    if info.paused:
        return info
    last = info.last_fire if info.last_fire is not None else now
    due = sched.fires(last, now, CATCHUP_CAP if sched.catchup == "all" else 2)
    fire = _starting(sched, due, now)
    wanted = len(fire)
    buffered = info.buffered
    running = False
    if (fire or buffered is not None) and sched.overlap != "allow":
        running = await _running(world, info.last_run_id)
    if running:
        if sched.overlap == "buffer_one" and fire:
            buffered = fire[-1]  # one waits for the previous run; a newer tick replaces it
        fire = []
    elif buffered is not None:  # the previous run ended: the buffered tick goes first
        fire = [buffered, *(f for f in fire if f != buffered)]
        buffered = None
    new_last = due[-1] if due else last
    next_fire = sched.next_fire(max(now, new_last))
    if not due and not fire and buffered == info.buffered and next_fire == info.next_fire:
        return info  # nothing to do (a changed spec still gets its next fire written)
    ids = [sched.run_id(f) for f in fire]
    for rid in ids:
        if await start_run(world, sched, rid):
            log.info("schedule %s: started run %s", sched.schedule_id, rid)
    if len(due) > wanted or (running and wanted):
        log.info(
            "schedule %s: %d due tick(s) start no run (catchup=%s, overlap=%s)",
            sched.schedule_id,
            len(due) - (0 if running else wanted),
            sched.catchup,
            sched.overlap,
        )
    moved = dataclasses.replace(
        info,
        last_fire=new_last,
        next_fire=next_fire,
        buffered=buffered,
        last_run_id=ids[-1] if ids else info.last_run_id,
    )
    stored = await world.update_schedule(moved)
    if stored is None:  # another worker moved it on from the same state: its write stands
        return await world.get_schedule(sched.schedule_id) or info
    return stored


class Ticker:
    """Starts the runs of this process's schedules as they fall due (one per worker)."""

    def __init__(self, world: World, clock: Callable[[], float]) -> None:
        self.world = world
        self.clock = clock
        self.passes = 0  # passes made (tests wait on it)
        self._specs: dict[str, bytes] = {}
        self._scope: anyio.CancelScope | None = None
        self._defined: anyio.Event | None = None  # made in run(): it needs the event loop

    async def run(self, done: Callable[[], bool]) -> None:
        """Tick until ``done()``; cancel the task to stop at once.

        With no schedule defined in this process it waits for one to be defined and costs
        nothing meanwhile (no pass, no wait on the world).
        """
        loop = asyncio.get_running_loop()
        self._defined = anyio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake)

        undo = on_register(wake)
        try:
            while not done():
                if not registered():
                    await self._defined.wait()  # set by wake() on a schedule(...)
                    self._defined = anyio.Event()
                    continue
                wake_at, topics = await self.pass_once()
                timeout = min(MAX_SLEEP_S, max(0.0, wake_at - self.clock()))
                if timeout > 0:
                    with anyio.CancelScope() as scope:
                        self._scope = scope
                        try:
                            await self.world.wait_for_change(topics, timeout)
                        finally:
                            self._scope = None
        finally:
            undo()

    def _wake(self) -> None:
        if self._defined is not None:
            self._defined.set()
        if self._scope is not None:
            self._scope.cancel()

    async def pass_once(self) -> tuple[float, list[str]]:
        """Tick every schedule once; when to wake next and the topics to wake on."""
        now = self.clock()
        wake_at = now + MAX_SLEEP_S
        topics = ["schedules"]
        for sched in registered():
            try:
                if self._specs.get(sched.schedule_id) != sched.spec():
                    await _register(self.world, sched, now)
                    self._specs[sched.schedule_id] = sched.spec()
                info = await tick(self.world, sched, now)
            except Exception:
                log.exception("schedule %s: tick failed", sched.schedule_id)
                continue
            if info.paused:
                continue
            if info.next_fire is not None:
                wake_at = min(wake_at, info.next_fire)
            if info.buffered is not None and info.last_run_id is not None:
                topics.append(f"done:{info.last_run_id}")
        self.passes += 1
        return wake_at, topics


async def get_schedule(world: World, schedule_id: str) -> ScheduleInfo:
    """The stored schedule, or ScheduleError saying how to find the ids there are."""
    info = await world.get_schedule(schedule_id)
    if info is None:
        raise ScheduleError(
            f"no schedule has id {schedule_id!r} in {world.url}: `wdk schedules list` shows"
            " the ones there are (a schedule is stored when a worker that imported its module"
            " starts)",
            schedule_id=schedule_id,
        )
    return info


async def set_paused(world: World, schedule_id: str, paused: bool, now: float) -> ScheduleInfo:
    """Pause or resume a schedule. Ticks that fell due while it was paused are skipped."""
    for _ in range(_CAS_TRIES):
        info = await get_schedule(world, schedule_id)
        if info.paused == paused:
            return info
        moved = dataclasses.replace(info, paused=paused)
        if not paused:
            sched = Schedule.from_spec(schedule_id, info.spec)
            moved = dataclasses.replace(
                moved, last_fire=max(now, info.last_fire or now), next_fire=sched.next_fire(now)
            )
        stored = await world.update_schedule(moved)
        if stored is not None:
            return stored
    raise ScheduleError(
        f"schedule {schedule_id!r} kept changing; try again", schedule_id=schedule_id
    )


async def trigger(world: World, schedule_id: str) -> str:
    """Start one run of the schedule now, outside its ticks (paused or not); its run id.

    The run counts as the schedule's latest for ``overlap``. Its id is
    ``sched-<id>-manual-<ULID>``.
    """
    info = await get_schedule(world, schedule_id)
    sched = Schedule.from_spec(schedule_id, info.spec)
    run_id = f"sched-{schedule_id}-manual-{new_run_id().removeprefix('wrun_')}"
    await start_run(world, sched, run_id)
    for _ in range(_CAS_TRIES):
        if await world.update_schedule(dataclasses.replace(info, last_run_id=run_id)):
            break
        info = await get_schedule(world, schedule_id)
    return run_id
