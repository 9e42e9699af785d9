"""RunLock: one run's lock between event-loop tasks and step threads."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from wdk.runtime._runlock import RunLock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_task_waits_for_a_thread_without_blocking_the_loop() -> None:
    lock = RunLock()
    held, release = threading.Event(), threading.Event()
    order: list[str] = []

    def thread() -> None:
        with lock.blocking():
            held.set()
            release.wait(10)
            order.append("thread")

    async def task() -> None:
        async with lock:
            order.append("task")

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, thread)
        await anyio.to_thread.run_sync(held.wait, 10)
        tg.start_soon(task)
        await anyio.wait_all_tasks_blocked()
        # The loop still runs other tasks while ``task`` waits for the thread.
        assert order == [] and lock.locked()
        release.set()
    assert order == ["thread", "task"]
    assert not lock.locked()


async def test_a_thread_waits_for_a_task_holding_the_lock_across_awaits() -> None:
    lock = RunLock()
    order: list[str] = []
    started = threading.Event()

    def thread() -> None:
        started.set()
        with lock.blocking():
            order.append("thread")

    async with anyio.create_task_group() as tg:
        async with lock:
            tg.start_soon(anyio.to_thread.run_sync, thread)
            await anyio.to_thread.run_sync(started.wait, 10)
            await anyio.sleep(0)  # an await while holding: the thread must still wait
            order.append("task")
    assert order == ["task", "thread"]


async def test_tasks_queue_among_themselves() -> None:
    lock = RunLock()
    inside = 0
    most = 0

    async def task() -> None:
        nonlocal inside, most
        async with lock:
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(task)
    assert most == 1


async def test_a_cancelled_waiter_leaves_the_lock_usable() -> None:
    lock = RunLock()
    held, release = threading.Event(), threading.Event()

    def thread() -> None:
        with lock.blocking():
            held.set()
            release.wait(10)

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, thread)
        await anyio.to_thread.run_sync(held.wait, 10)
        entered: list[bool] = []

        async def waiter() -> None:
            async with lock:
                entered.append(True)

        async with anyio.create_task_group() as waiting:
            waiting.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            waiting.cancel_scope.cancel()
        assert entered == []
        release.set()
    async with lock:
        assert lock.locked()
    assert not lock.locked()
