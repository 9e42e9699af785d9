"""A run started in a process whose worker runs on the same event loop goes to that worker at
once: its first message is written leased to it, so no claim goes through the queue."""

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


async def test_a_taken_start_its_worker_never_handles_is_claimed_once_the_lease_ends(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies between writing the start and handling it: the message is leased to
    it, the lease runs out, and another worker claims and finishes the run."""
    async with running(world) as h:
        await anyio.wait_all_tasks_blocked()
        dying = h.worker
        dying.lease_s = 0.5
        monkeypatch.setattr(dying, "started", lambda message, message_id: None)
        run = await h.start("sequential", 2)
        message = await world.get_message(f"wf:{run.run_id}")
        assert message is not None and message.owner == dying.worker_id
        dying.stop()
    other = Worker(
        world, Project([FIXTURES]), retry_policy=RetryPolicy(base=0.01), idle_poll_s=0.2
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(other.run)
        try:
            assert await run.return_value(timeout=60) == [1, 2]
        finally:
            other.stop()
