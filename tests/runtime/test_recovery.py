"""Crash recovery in seconds: a worker (or ``wdk run``) SIGKILLed mid-step on SQLite and
PostgreSQL; a new worker takes the step over long before its 30 s lease would have lapsed,
because the dead worker's leases are released (its pid is gone, or its heartbeat stopped).

How fast is measured in ``bench/bench_recovery.py``; here the claim is behavioural: the step
is run again, and the run finished, while the killed worker's lease was still in the future.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pg import PG_URL, fresh_schema, require_postgres

from wdk import serde
from wdk.api import start
from wdk.worlds import open_world
from wdk.worlds.base import Message, WorkerInfo

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CRASH = Path(__file__).resolve().parents[2] / "fixtures" / "crash"
WDK = str(Path(sys.executable).with_name("wdk"))
MID_STEP = "workflow//crashy.py//mid_step"


@pytest.fixture(params=["sqlite", "postgres"])
async def world_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh world of each durable backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wdk.db'}"
        return
    require_postgres()
    url = f"{PG_URL}?schema={fresh_schema()}"
    yield url
    from wdk.worlds.postgres import PostgresWorld

    world = PostgresWorld(url)
    await world.drop_schema()
    await world.close()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CRASH_LOG=str(tmp_path / "log.txt"),
        CRASH_GATE=str(tmp_path / "gate"),
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp_path / "cache"),
    )
    return env


def _spawn(args: list[str], url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # The default lease (30 s): recovery must not wait for it.
    return subprocess.Popen(
        [WDK, *args, "--world", url, "--root", str(CRASH)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        _kill(proc)


async def _held_step(world: Any, pid: int) -> tuple[Message, WorkerInfo]:
    """The step message the process ``pid`` holds, and its registration."""
    (me,) = [w for w in await world.list_workers() if w.pid == pid]
    (held,) = [m for m in await world.list_leases() if m.owner == me.worker_id]
    assert held.kind == "step"
    return held, me


async def _kill_mid_step(
    tmp_path: Path, url: str, first_args: list[str]
) -> tuple[Any, str, Message, WorkerInfo]:
    """Start the run, let ``first_args`` (a worker or ``wdk run``) take it to the middle of
    its second step, SIGKILL it there and open the step's gate for the next attempt."""
    world = open_world(url)
    await world.setup()
    env = _env(tmp_path)
    if first_args[0] == "worker":
        run = await start(MID_STEP, [], world=world)
        first = _spawn(first_args, url, env)
    else:
        first = _spawn(first_args, url, env)
        run = None
    try:
        if run is None:  # `wdk run` started it: find it
            while not (page := await world.list_runs()).runs:
                await world.wait_for_change(["queue"], 1.0)
            run_id = page.runs[0].run_id
        else:
            run_id = run.run_id
        from wdk.api import get_run

        readable = get_run(run_id, world=world).get_readable()
        assert await readable.__anext__() == "block started"  # mid-flight
        held, dead = await _held_step(world, first.pid)
    finally:
        _kill(first)
    (tmp_path / "gate").touch()
    return world, run_id, held, dead


async def _finish_elsewhere(
    tmp_path: Path, world: Any, url: str, run_id: str, held: Message
) -> list[Any]:
    """A new worker finishes the run; checks the step was taken over before the lease ran out
    and ran twice at most (once more than before: the attempt in flight at the kill)."""
    from wdk.api import get_run

    second = _spawn(["worker"], url, _env(tmp_path))
    try:
        assert await get_run(run_id, world=world).return_value(timeout=60) == [
            "before",
            "block",
            "after",
        ]
    finally:
        _stop(second)
    events = await world.read_events(run_id)
    cid = held.key.rsplit(":", 1)[-1]
    attempts = [
        serde.decode(e.data) for e in events if e.type == "step_started" and e.correlation_id == cid
    ]
    done = [e for e in events if e.type == "run_completed"]
    assert len(attempts) == 2 and attempts[1]["attempt"] == 2
    # Taken over, and the whole run finished, while the dead worker's lease still held.
    assert attempts[1]["at"] < held.lease_until
    assert done[0].created_at < held.lease_until
    lines = (tmp_path / "log.txt").read_text().splitlines()
    steps = collections.Counter(line.split()[0] for line in lines)
    assert steps == {"before": 1, "block": 2, "after": 1}
    completions = collections.Counter(
        e.correlation_id for e in events if e.type in ("step_completed", "step_failed")
    )
    assert max(completions.values()) == 1
    return events


async def test_a_killed_worker_is_taken_over_before_its_lease_lapses(
    tmp_path: Path, world_url: str
) -> None:
    """Same machine: the new worker sees at start that the holder's process is gone."""
    world, run_id, held, dead = await _kill_mid_step(tmp_path, world_url, ["worker"])
    try:
        await _finish_elsewhere(tmp_path, world, world_url, run_id, held)
        assert dead.worker_id not in [w.worker_id for w in await world.list_workers()]
    finally:
        await world.close()


async def test_a_killed_wdk_run_is_taken_over_by_a_worker(tmp_path: Path, world_url: str) -> None:
    world, run_id, held, _ = await _kill_mid_step(tmp_path, world_url, ["run", "crashy:mid_step"])
    try:
        await _finish_elsewhere(tmp_path, world, world_url, run_id, held)
    finally:
        await world.close()


async def test_a_worker_of_another_machine_is_taken_over_when_its_heartbeat_stops(
    tmp_path: Path, world_url: str
) -> None:
    """Its pid means nothing here: the new worker waits for its heartbeat to stay still for
    ``dead_after_s`` (3 s), still well before the lease's 30 s."""
    world, run_id, held, dead = await _kill_mid_step(tmp_path, world_url, ["worker"])
    try:
        elsewhere = WorkerInfo(dead.worker_id, "elsewhere", dead.pid, "linux:other-boot:/1")
        await world.heartbeat(elsewhere)  # as seen from here: a worker of another machine
        await _finish_elsewhere(tmp_path, world, world_url, run_id, held)
    finally:
        await world.close()


async def test_a_paused_worker_that_comes_back_records_nothing_twice(
    tmp_path: Path, world_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker presumed gone (released by a sweep) while its step was in flight comes back:
    the message now has a new id under another worker, so its lease extension fails, its ack
    touches nothing, and its late completion is refused by the completion's dedup key."""
    import anyio

    from wdk.runtime import Project, Worker

    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    world = open_world(world_url)
    await world.setup()
    project = Project([CRASH])
    paused = Worker(world, project, worker_id="paused", idle_poll_s=0.2)
    other = Worker(world, project, worker_id="other", idle_poll_s=0.2)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(paused.run)
            await paused.registered()
            run = await start("workflow//paused.py//held_then_after", [], world=world)
            while not (steps := [m for m in await world.list_leases() if m.kind == "step"]):
                await world.wait_for_change([f"run:{run.run_id}"], 0.5)
            (old,) = steps
            assert old.owner == "paused"
            paused.stop()  # paused: it claims nothing more (its step stays in flight)
            # What a sweep does when it finds "paused" gone (its pid, here, is alive).
            assert await world.release_worker("paused", last_seen=float("inf")) == 1
            tg.start_soon(other.run)
            while (new := await world.get_message(old.key)) is None or new.owner != "other":
                await world.wait_for_change(["queue", f"run:{run.run_id}"], 0.5)
            assert new.id != old.id and new.deliveries == 2
            (tmp_path / "gate.2").touch()  # the second attempt finishes first
            assert await run.return_value(timeout=60) == ["held", "after"]
            assert await world.extend_lease(old.id, lease_s=30) is False
            (tmp_path / "gate.1").touch()  # the paused one comes back and tries to record
            other.stop()  # both runs return once their work is done
        assert paused.processed_steps == 1  # it finished its attempt, and recorded nothing
        events = await world.read_events(run.run_id)
        assert "step_failed" not in [e.type for e in events]
        completed = [e.correlation_id for e in events if e.type == "step_completed"]
        assert len(completed) == len(set(completed)) == 2
        assert [e.type for e in events].count("run_completed") == 1
        lines = (tmp_path / "log.txt").read_text().splitlines()
        assert sorted(lines) == ["after 1", "hold 1", "hold 2"]
        assert await world.list_leases() == [] and await world.get_message(old.key) is None
    finally:
        await world.close()
