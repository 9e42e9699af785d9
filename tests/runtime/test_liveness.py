"""Which workers are gone (runtime/_liveness): a process of this machine by its pid and start
time, a worker elsewhere by a heartbeat that stopped moving on this worker's own clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from wdk.runtime._liveness import Sweeper, is_alive, machine, this_worker
from wdk.worlds.base import WorkerInfo
from wdk.worlds.memory import MemoryWorld

pytestmark = pytest.mark.anyio

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="start times come from /proc"
)


class Ticks:
    """A hand-moved clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_this_process_is_alive_and_a_reaped_one_is_not() -> None:
    me = this_worker("me")
    assert me.pid == os.getpid() and me.process.startswith(machine() + "/")
    assert is_alive(me, machine()) is True
    child = _child()
    registered = this_worker("child")
    registered = WorkerInfo("child", registered.host, child.pid, _token_of(child.pid))
    assert is_alive(registered, machine()) is True
    child.kill()
    child.wait()
    assert is_alive(registered, machine()) is False


@linux_only
def test_a_killed_child_not_yet_reaped_is_gone() -> None:
    child = _child()
    registered = WorkerInfo("child", "h", child.pid, _token_of(child.pid))
    os.kill(child.pid, signal.SIGKILL)
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, still listed
        assert is_alive(registered, machine()) is False
    finally:
        child.wait()


@linux_only
def test_a_reused_pid_is_not_the_worker_that_had_it() -> None:
    me = this_worker("me")
    where, _, start = me.process.rpartition("/")
    earlier = WorkerInfo("old", me.host, me.pid, f"{where}/{int(start) - 1}")
    assert is_alive(earlier, machine()) is False


def test_a_worker_of_another_machine_is_not_judged_by_pid() -> None:
    me = this_worker("me")
    elsewhere = WorkerInfo("far", "other", me.pid, "linux:another-boot:ns/123")
    assert is_alive(elsewhere, machine()) is None


def _token_of(pid: int) -> str:
    from wdk.runtime import _liveness

    return _liveness._token(pid)


async def _sweeper(world: Any, ticks: Ticks, **kw: Any) -> Sweeper:
    await world.heartbeat(this_worker("me"))
    return Sweeper(world, "me", dead_after_s=3.0, monotonic=ticks, **kw)


async def test_a_far_worker_is_gone_after_dead_after_s_without_a_heartbeat() -> None:
    world_clock = Ticks()
    world = MemoryWorld(clock=world_clock)
    ticks = Ticks()
    far = WorkerInfo("far", "other", 1, "linux:another-boot:ns/1")
    await world.heartbeat(far)
    await world.enqueue([_msg()])
    await world.claim(["workflow"], worker_id="far", lease_s=30)
    sweeper = await _sweeper(world, ticks)
    assert await sweeper.sweep() == []  # first seen now
    ticks.now += 2
    world_clock.now += 2
    await world.heartbeat(far)  # it moved: watched afresh from here
    ticks.now += 2.9
    assert await sweeper.sweep() == []
    ticks.now += 0.2
    assert await sweeper.sweep() == []  # 0.2 s since the sweep that saw it move
    ticks.now += 3
    assert await sweeper.sweep() == [("far", 1)]
    assert [w.worker_id for w in await world.list_workers()] == ["me"]
    assert (await world.get_message("k")).owner is None


async def test_a_gone_process_here_is_released_at_once_and_a_live_one_never() -> None:
    world = MemoryWorld()
    ticks = Ticks()
    child = _child()
    token = _token_of(child.pid)
    await world.heartbeat(WorkerInfo("child", "h", child.pid, token))
    await world.heartbeat(WorkerInfo("twin", "h", os.getpid(), this_worker("x").process))
    sweeper = await _sweeper(world, ticks)
    ticks.now += 3600  # heartbeats never matter for a process of this machine
    assert await sweeper.sweep() == []
    child.kill()
    child.wait()
    assert await sweeper.sweep() == [("child", 0)]
    assert [w.worker_id for w in await world.list_workers()] == ["me", "twin"]


async def test_without_pid_checks_only_heartbeats_count() -> None:
    world = MemoryWorld()
    ticks = Ticks()
    await world.heartbeat(WorkerInfo("twin", "h", os.getpid(), this_worker("x").process))
    sweeper = await _sweeper(world, ticks, check_pids=False)
    assert await sweeper.sweep() == []
    ticks.now += 3
    assert await sweeper.sweep() == [("twin", 0)]


def _msg() -> Any:
    from wdk.worlds.base import NewMessage

    return NewMessage("workflow", "r1", "k")
