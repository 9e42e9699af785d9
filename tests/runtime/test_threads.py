"""StepThreads: the thread hop of sync steps."""

from __future__ import annotations

import threading

import anyio
import pytest

from wdk.runtime._threads import StepThreads

pytestmark = pytest.mark.anyio


async def test_result_and_exception_come_back_to_the_loop() -> None:
    threads = StepThreads(2)
    try:
        assert await threads.run(lambda: threading.current_thread().name) != (
            threading.current_thread().name
        )

        def boom() -> None:
            raise ValueError("from the thread")

        with pytest.raises(ValueError, match="from the thread"):
            await threads.run(boom)
    finally:
        threads.shutdown()


async def test_blocking_calls_run_in_parallel_up_to_the_limit() -> None:
    threads = StepThreads(3)
    barrier = threading.Barrier(3, timeout=30)  # passes only if all three run at once
    try:
        results: list[int] = []

        async def one(i: int) -> None:
            results.append(await threads.run(lambda: (barrier.wait(), i)[1]))

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(one, i)
        assert sorted(results) == [0, 1, 2]
        assert len(threads._threads) == 3
        # Idle threads are reused, not multiplied.
        for i in range(5):
            assert await threads.run(lambda i=i: i) == i
        assert len(threads._threads) == 3
    finally:
        threads.shutdown()


async def test_shutdown_refuses_new_work_and_stops_the_threads() -> None:
    threads = StepThreads(1)
    assert await threads.run(lambda: 1) == 1
    threads.shutdown()
    for thread in threads._threads:
        thread.join(30)
        assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        threads.run(lambda: 2)
