"""A run started in a process whose worker runs on the same event loop goes to that worker at
once: its first pass commits with its creation, so no claim goes through the queue."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import FIXTURES, running

from wdk.api import start
from wdk.runtime import Project, RetryPolicy, Worker
from wdk.worlds import open_world

pytestmark = pytest.mark.anyio

SEQUENTIAL = "workflow//flows.py//sequential"


def _count_claims(monkeypatch: pytest.MonkeyPatch, world: Any) -> list[str]:
    """The kinds of the messages ``world.claim`` hands out from now on."""
    kinds: list[str] = []
    real = world.claim

    async def claim(*args: Any, **kwargs: Any) -> Any:
        msg = await real(*args, **kwargs)
        if msg is not None:
            kinds.append(msg.kind)
        return msg

    monkeypatch.setattr(world, "claim", claim)
    return kinds


async def test_a_run_started_beside_its_worker_is_taken_without_a_claim(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed = _count_claims(monkeypatch, world)
    async with running(world) as h:
        await anyio.wait_all_tasks_blocked()  # the worker is up and registered
        runs = [await h.start("sequential", 3) for _ in range(3)]
        for run in runs:
            assert await run.return_value(timeout=60) == [1, 2, 3]
            await h.check_replay(run)
    assert claimed == []


async def test_a_start_from_another_event_loop_goes_through_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite: the one world here that may be used from two event loops at once.
    world = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    claimed = _count_claims(monkeypatch, world)
    async with running(world):
        await anyio.wait_all_tasks_blocked()
        started = functools.partial(start, SEQUENTIAL, [2], world=world)
        run = await anyio.to_thread.run_sync(anyio.run, started)  # its own loop and thread
        assert await run.return_value(timeout=60) == [1, 2]
    await world.close()
    assert claimed == ["workflow"]


async def test_a_run_whose_starter_dies_after_the_start_commit_is_finished_elsewhere(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start commit holds the first step, leased to the local worker; that worker dies
    before running it: the lease runs out and another worker claims the step."""
    async with running(world) as h:
        await anyio.wait_all_tasks_blocked()
        dying = h.worker
        dying.lease_s = 0.5

        async def never_run(job: Any) -> None:
            dying._finish(job)  # gone: never run, and no more heartbeats for its lease

        monkeypatch.setattr(dying, "_run_inline", never_run)
        run = await h.start("sequential", 2)
        events = [e.type for e in await world.read_events(run.run_id)]
        assert events == ["run_created", "run_started", "step_created", "step_started"]
        assert await world.get_message(f"wf:{run.run_id}") is None
        leases = await world.list_leases()
        assert [(m.kind, m.owner) for m in leases] == [("step", dying.worker_id)]
        dying.stop()
    other = Worker(world, Project([FIXTURES]), retry_policy=RetryPolicy(base=0.01), idle_poll_s=0.2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(other.run)
        try:
            assert await run.return_value(timeout=60) == [1, 2]
        finally:
            other.stop()


async def test_an_idempotent_start_beside_its_worker_returns_the_existing_run(
    world: Any,
) -> None:
    async with running(world) as h:
        await anyio.wait_all_tasks_blocked()
        first = await h.start("sequential", 2, run_id="wrun_same")
        assert await first.return_value(timeout=60) == [1, 2]
        again = await h.start("sequential", 5, run_id="wrun_same")
        assert again.run_id == "wrun_same"
        assert await again.return_value(timeout=60) == [1, 2]
        created = [e for e in await world.read_events("wrun_same") if e.type == "run_created"]
        assert len(created) == 1
