"""The in-process change hub behind the memory and SQLite worlds' ``wait_for_change``."""

from __future__ import annotations

import threading

import anyio
import pytest

from wdk.worlds._notify import IDLE, ChangeHub

pytestmark = pytest.mark.anyio


async def test_a_commit_in_another_thread_wakes_the_waiter() -> None:
    hub = ChangeHub()
    waiter = hub.register(["run:r1"])
    try:
        thread = threading.Thread(target=hub.notify, args=(["other", "run:r1"],))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def notify_once_waiting() -> None:
                    await anyio.wait_all_tasks_blocked()
                    thread.start()

                tg.start_soon(notify_once_waiting)
                assert await waiter.wait(60) is True
        thread.join()
    finally:
        hub.unregister(waiter)


async def test_a_wake_between_two_poll_slices_is_not_lost() -> None:
    """The wake-up lands while the waiter is polling (no slice pending): the wait returns at
    once instead of sleeping through ever longer slices."""
    hub = ChangeHub()
    waiter = hub.register(["done:r1"])
    polls = 0

    def poll() -> int:
        nonlocal polls
        polls += 1
        hub.notify(["done:r1"])  # a commit seen between slices
        return IDLE

    try:
        with anyio.fail_after(10):
            assert await waiter.wait(600, poll, poll_min=0.001, poll_max=600) is True
        assert polls == 1
    finally:
        hub.unregister(waiter)


async def test_no_commit_on_the_topics_times_out() -> None:
    hub = ChangeHub()
    waiter = hub.register(["done:r1"])
    try:
        hub.notify(["done:r2", "queue"])
        assert await waiter.wait(0.01, lambda: IDLE, poll_min=0.002, poll_max=0.004) is False
    finally:
        hub.unregister(waiter)
