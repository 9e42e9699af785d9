"""The scheduler's asyncio face: library code (asyncio, anyio) awaited by wdk tasks.

Here the tests play the engine: they create wdk futures, resolve them between
``run_until_idle`` calls, and check what library code running on the ``WorkflowLoop`` saw.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import random
from typing import Any

import anyio
import pytest

from wdk.errors import SandboxError
from wdk.runtime._scheduler import Future, Scheduler, WorkflowLoop


def _drive(scheduler: Scheduler, futures: list[Future], values: list[Any]) -> None:
    """Resolve futures one by one (in list order), running the scheduler after each."""
    scheduler.run_until_idle()
    for fut, value in zip(futures, values, strict=True):
        fut.set_result(value)
        scheduler.run_until_idle()


async def _library(durable: list[Future], log: list[str]) -> list[Any]:
    """Library-style asyncio code: tasks, gather, Event, Lock, Queue, all on the running loop."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, WorkflowLoop)
    lock = asyncio.Lock()
    ready = asyncio.Event()
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def worker(i: int) -> int:
        await ready.wait()
        async with lock:
            log.append(f"worker {i} has the lock")
            value = await durable[i].to_asyncio()  # a durable result, awaited from a task
            await queue.put(f"w{i}={value}")
        return value * 10

    tasks = [asyncio.create_task(worker(i)) for i in range(len(durable))]
    await asyncio.sleep(0)
    log.append("releasing")
    ready.set()
    results = await asyncio.gather(*tasks)
    drained = [queue.get_nowait() for _ in range(queue.qsize())]
    log.append(f"queue {drained}")
    return results


def test_asyncio_primitives_inside_a_library_coroutine():
    scheduler = Scheduler()
    durable = [Future(scheduler) for _ in range(3)]
    log: list[str] = []
    task = scheduler.spawn(_library(durable, log))
    _drive(scheduler, durable, [1, 2, 3])
    assert task.result() == [10, 20, 30]
    assert log == [
        "releasing",
        "worker 0 has the lock",
        "worker 1 has the lock",
        "worker 2 has the lock",
        "queue ['w0=1', 'w1=2', 'w2=3']",
    ]


async def _anyio_library(durable: list[Future], log: list[str]) -> list[int]:
    results: list[int] = []

    async def child(i: int) -> None:
        log.append(f"child {i} starts")
        results.append(await durable[i].to_asyncio())
        log.append(f"child {i} done")

    async with anyio.create_task_group() as tg:
        for i in range(len(durable)):
            tg.start_soon(child, i)
        log.append("host waits")
    send, receive = anyio.create_memory_object_stream[int](10)
    async with send, receive:
        await send.send(sum(results))
        results.append(await receive.receive())
    return results


def test_anyio_task_group_inside_a_library_coroutine():
    scheduler = Scheduler()
    durable = [Future(scheduler) for _ in range(3)]
    log: list[str] = []
    task = scheduler.spawn(_anyio_library(durable, log))
    # Resolve out of creation order: children finish in resolution order.
    scheduler.run_until_idle()
    for i, value in ((2, 30), (0, 10), (1, 20)):
        durable[i].set_result(value)
        scheduler.run_until_idle()
    assert task.result() == [30, 10, 20, 60]
    assert log[:4] == ["host waits", "child 0 starts", "child 1 starts", "child 2 starts"]
    assert log[4:] == ["child 2 done", "child 0 done", "child 1 done"]


def test_anyio_task_group_failure_cancels_siblings_and_reaches_the_host():
    scheduler = Scheduler()
    durable = [Future(scheduler) for _ in range(2)]
    seen: list[str] = []

    async def failing() -> None:
        await durable[0].to_asyncio()
        raise ValueError("child failed")

    async def sibling() -> None:
        try:
            await durable[1].to_asyncio()
        except asyncio.CancelledError:
            seen.append("sibling cancelled")
            raise

    async def host() -> str:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(failing)
                tg.start_soon(sibling)
        except ExceptionGroup as group:
            return f"caught {group.exceptions[0]}"
        return "not reached"

    task = scheduler.spawn(host())
    scheduler.run_until_idle()
    durable[0].set_result(None)
    scheduler.run_until_idle()
    assert task.result() == "caught child failed"
    assert seen == ["sibling cancelled"]
    durable[1].set_result(None)  # the abandoned durable result arrives later: ignored
    scheduler.run_until_idle()


def _interleaving(seed: int) -> list[str]:
    """One 'run': wdk tasks and asyncio tasks interleaving, resolved in a fixed order."""
    garbage = [object() for _ in range(random.Random(seed).randint(1, 500))]  # move addresses
    scheduler = Scheduler()
    durable = [Future(scheduler) for _ in range(4)]
    log: list[str] = []

    async def library(name: str, fut: Future) -> None:
        async def sub(i: int) -> None:
            log.append(f"{name}.sub{i} before")
            await asyncio.sleep(0)
            log.append(f"{name}.sub{i} after")

        done, _ = await asyncio.wait({asyncio.create_task(sub(i)) for i in range(3)})
        log.append(f"{name} waited for {len(done)}")
        log.append(f"{name} got {await fut.to_asyncio()}")

    async def wdk_task(name: str, fut: Future, other: Future) -> None:
        await library(name, fut)
        log.append(f"{name} then {await other}")  # a plain wdk await in the same task

    scheduler.spawn(wdk_task("a", durable[0], durable[2]))
    scheduler.spawn(wdk_task("b", durable[1], durable[3]))
    _drive(scheduler, [durable[1], durable[0], durable[3], durable[2]], [1, 0, 3, 2])
    del garbage
    return log


def test_interleaving_is_deterministic_across_runs():
    first = _interleaving(1)
    assert first == _interleaving(2) == _interleaving(3)
    assert first[-4:] == ["b got 1", "a got 0", "b then 3", "a then 2"]


def test_a_future_of_the_real_loop_is_rejected():
    async def main() -> None:
        real = asyncio.get_running_loop().create_future()
        scheduler = Scheduler()

        async def awaits_real() -> None:
            await real

        task = scheduler.spawn(awaits_real())
        scheduler.run_until_idle()
        assert isinstance(task.exception(), SandboxError)
        assert "not a wdk awaitable" in str(task.exception())
        real.cancel()

    anyio.run(main)


def test_timers_are_refused_with_a_clear_message():
    scheduler = Scheduler()

    async def sleeps() -> None:
        await asyncio.sleep(5)

    async def times_out() -> None:
        async with asyncio.timeout(5):
            await asyncio.sleep(0)

    tasks = [scheduler.spawn(sleeps()), scheduler.spawn(times_out())]
    scheduler.run_until_idle()
    for task in tasks:
        err = task.exception()
        assert isinstance(err, SandboxError)
        assert "wall-clock timers are not durable" in str(err)
        assert "wdk.sleep" in str(err)


def test_threads_and_io_are_refused():
    scheduler = Scheduler()

    async def in_thread() -> None:
        await asyncio.get_running_loop().run_in_executor(None, print)

    async def connects() -> None:
        await asyncio.open_connection("127.0.0.1", 9)

    async def from_another_thread() -> None:
        asyncio.get_running_loop().call_soon_threadsafe(print)

    tasks = [scheduler.spawn(c) for c in (in_thread(), connects(), from_another_thread())]
    scheduler.run_until_idle()
    assert isinstance(tasks[0].exception(), SandboxError)
    assert "run_in_executor" in str(tasks[0].exception())
    assert isinstance(tasks[1].exception(), SandboxError)
    assert "create_connection" in str(tasks[1].exception())
    assert isinstance(tasks[2].exception(), NotImplementedError)


def test_running_loop_is_restored_after_run_until_idle():
    class Signal(BaseException):
        pass

    async def main() -> None:
        real = asyncio.get_running_loop()
        scheduler = Scheduler(is_control_signal=lambda e: isinstance(e, Signal))
        seen: list[Any] = []

        async def records() -> None:
            seen.append(asyncio.get_running_loop())

        async def signals() -> None:
            raise Signal()

        scheduler.spawn(records())
        scheduler.run_until_idle()
        assert seen == [scheduler.loop]
        assert asyncio.get_running_loop() is real
        scheduler.spawn(signals())
        with pytest.raises(Signal):
            scheduler.run_until_idle()
        assert asyncio.get_running_loop() is real  # also after a control signal

    anyio.run(main)
    scheduler = Scheduler()
    scheduler.spawn(asyncio.sleep(0))
    scheduler.run_until_idle()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # none before, none after


def test_each_task_has_its_own_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    scheduler = Scheduler()
    durable = [Future(scheduler) for _ in range(2)]
    seen: list[str] = []

    async def library(name: str, fut: Future) -> None:
        var.set(name)
        await fut
        seen.append(f"{name} sees {var.get()}")

    scheduler.spawn(library("a", durable[0]))
    scheduler.spawn(library("b", durable[1]))
    _drive(scheduler, durable, [None, None])
    assert seen == ["a sees a", "b sees b"]
    assert var.get() == "unset"


def test_current_task_cancel_reaches_a_durable_wait():
    scheduler = Scheduler()
    durable = Future(scheduler)
    seen: list[str] = []

    async def waits() -> str:
        me = asyncio.current_task()
        assert me is not None and me.get_loop() is scheduler.loop

        async def cancel_me() -> None:
            me.cancel("stop")

        asyncio.get_running_loop().create_task(cancel_me())
        try:
            await durable
        except asyncio.CancelledError as exc:
            seen.append(f"cancelled: {exc.args}")
            assert me.cancelling() == 1
            me.uncancel()
        return "recovered"

    task = scheduler.spawn(waits())
    scheduler.run_until_idle()
    assert task.result() == "recovered"
    assert seen == ["cancelled: ('stop',)"]
    durable.set_result("late")  # ignored: the task stopped waiting
    scheduler.run_until_idle()


def test_close_tears_down_library_tasks_quietly():
    scheduler = Scheduler()
    durable = Future(scheduler)
    cleaned: list[str] = []

    async def child() -> None:
        try:
            await durable.to_asyncio()
        finally:
            cleaned.append("child")

    async def host() -> None:
        asyncio.get_running_loop().create_task(child())
        try:
            await durable
        finally:
            cleaned.append("host")

    scheduler.spawn(host())
    scheduler.run_until_idle()
    scheduler.loop.create_task(child())  # never started: no "never awaited" warning either
    scheduler.close()
    gc.collect()
    assert sorted(cleaned) == ["child", "host"]


def test_a_wdk_future_can_be_awaited_by_an_asyncio_task():
    scheduler = Scheduler()
    durable = Future(scheduler)

    async def main() -> str:
        task = asyncio.create_task(_await_bridged(durable))
        return await task

    task = scheduler.spawn(main())
    scheduler.run_until_idle()
    durable.set_exception(KeyError("nope"))
    scheduler.run_until_idle()
    assert isinstance(task.exception(), KeyError)


async def _await_bridged(fut: Future) -> str:
    return str(await fut.to_asyncio())
