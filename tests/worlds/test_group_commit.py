"""GroupCommit: requests made while a batch is in flight go together in the next one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from wdk.worlds._group_commit import GroupCommit

pytestmark = pytest.mark.anyio


class Store:
    """A ``send`` that records its batches and, when told to, holds them until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.hold = False
        self.release = anyio.Event()
        self.entered = anyio.Event()
        self.fail_with: Exception | None = None

    async def send(self, requests: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(requests))
        self.entered.set()
        if self.hold:
            await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [ValueError(r) if r.startswith("bad") else r.upper() for r in requests]


def caller(commit: GroupCommit[str, str], outcomes: dict[str, object]) -> Any:
    """``submit(name)``: submits ``name`` and files its outcome (a result or a ValueError)."""

    async def submit(name: str) -> None:
        try:
            outcomes[name] = await commit.submit(name)
        except ValueError as exc:
            outcomes[name] = exc

    return submit


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_request_alone_goes_at_once() -> None:
    store = Store()
    commit: GroupCommit[str, str] = GroupCommit(store.send)
    assert await commit.submit("a") == "A"
    assert await commit.submit("b") == "B"
    assert store.batches == [["a"], ["b"]]


async def behind_one(names: list[str]) -> tuple[list[list[str]], dict[str, object]]:
    """Submit "first", then ``names`` while its batch is in flight; the batches and outcomes."""
    store = Store()
    store.hold = True
    commit: GroupCommit[str, str] = GroupCommit(store.send, max_in_flight=1)
    outcomes: dict[str, object] = {}
    submit = caller(commit, outcomes)
    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "first")
        await store.entered.wait()
        for name in names:
            tg.start_soon(submit, name)
        await anyio.wait_all_tasks_blocked()
        store.release.set()
    return store.batches, outcomes


async def test_requests_made_during_a_batch_share_the_next_one() -> None:
    batches, outcomes = await behind_one(["b", "c", "d"])
    assert batches == [["first"], ["b", "c", "d"]]
    assert outcomes == {"first": "FIRST", "b": "B", "c": "C", "d": "D"}


async def test_a_failed_request_fails_alone() -> None:
    batches, outcomes = await behind_one(["bad", "good"])
    assert isinstance(outcomes["bad"], ValueError)
    assert outcomes["good"] == "GOOD" and outcomes["first"] == "FIRST"
    assert batches == [["first"], ["bad", "good"]]


async def test_a_send_that_raises_fails_its_batch_and_the_next_still_goes() -> None:
    store = Store()
    store.fail_with = ConnectionError("server gone")
    commit: GroupCommit[str, str] = GroupCommit(store.send)
    with pytest.raises(ConnectionError, match="server gone"):
        await commit.submit("a")
    store.fail_with = None
    assert await commit.submit("b") == "B"


async def test_a_caller_cancelled_while_waiting_withdraws_its_request() -> None:
    store = Store()
    store.hold = True
    commit: GroupCommit[str, str] = GroupCommit(store.send, max_in_flight=1)
    results: dict[str, object] = {}
    submit = caller(commit, results)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "first")
        await store.entered.wait()
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as doomed:
                doomed.start_soon(submit, "withdrawn")
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
        tg.start_soon(submit, "later")
        await anyio.wait_all_tasks_blocked()
        store.hold = False
        store.release.set()
    assert store.batches == [["first"], ["later"]]
    assert results == {"first": "FIRST", "later": "LATER"}


async def test_a_cancelled_sender_still_delivers_its_batch() -> None:
    store = Store()
    store.hold = True
    commit: GroupCommit[str, str] = GroupCommit(store.send, max_in_flight=1)
    results: dict[str, object] = {}
    submit = caller(commit, results)

    sender = anyio.CancelScope()

    async def cancelled_sender() -> None:
        with sender:
            await submit("sender")

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_sender)
        await store.entered.wait()
        sender.cancel()  # shielded: the batch in flight is not abandoned
        tg.start_soon(submit, "waiting")
        await anyio.wait_all_tasks_blocked()
        store.hold = False
        store.release.set()
    assert store.batches == [["sender"], ["waiting"]]
    assert results == {"sender": "SENDER", "waiting": "WAITING"}
