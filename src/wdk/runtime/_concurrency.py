"""Deterministic ``gather``/``wait``/``race``/``create_task`` for workflow code.

They build on :mod:`wdk.runtime._scheduler`: every awaitable becomes a scheduler
:class:`~wdk.runtime._scheduler.Future`, and combinators resolve in the order the engine
resolves their parts, which is the order of the event log. Nothing here touches a real event
loop.
"""

from __future__ import annotations

import asyncio as _real_asyncio
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any

from wdk._context import current
from wdk.runtime._scheduler import Future, Scheduler, Task

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "create_task",
    "ensure_future",
    "gather",
    "race",
    "sleep",
    "wait",
    "wait_for",
]

FIRST_COMPLETED = _real_asyncio.FIRST_COMPLETED
FIRST_EXCEPTION = _real_asyncio.FIRST_EXCEPTION
ALL_COMPLETED = _real_asyncio.ALL_COMPLETED


def _scheduler(what: str) -> Scheduler:
    ctx: Any = current(what)
    scheduler: Scheduler = ctx.scheduler
    return scheduler


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _spawn(scheduler: Scheduler, awaitable: Any) -> Task | None:
    """A task awaiting ``awaitable`` (a coroutine, a step call, ...); None if not awaitable."""
    if isinstance(awaitable, Coroutine):
        return scheduler.spawn(awaitable)
    if hasattr(awaitable, "__await__"):
        return scheduler.spawn(_await(awaitable))
    return None


def _as_future(scheduler: Scheduler, awaitable: Any) -> Future:
    if isinstance(awaitable, Future):
        return awaitable
    task = _spawn(scheduler, awaitable)
    if task is None:
        raise TypeError(f"expected an awaitable, got {type(awaitable).__name__}")
    return task


def create_task(coro: Awaitable[Any], *, name: str | None = None) -> Task:
    """Run ``coro`` concurrently with the caller; await the task for its result.

    A step call (``create_task(charge(order))``) is accepted too: it looks like a coroutine
    call in workflow code, so it is wrapped in a task like one.
    """
    task = _spawn(_scheduler("asyncio.create_task()"), coro)
    if task is None:
        raise TypeError(
            f"asyncio.create_task() needs a coroutine or a step call, got {type(coro).__name__}"
        )
    return task


def ensure_future(awaitable: Any) -> Future:
    """Wrap any awaitable in a scheduler future."""
    return _as_future(_scheduler("asyncio.ensure_future()"), awaitable)


def gather(*awaitables: Any, return_exceptions: bool = False) -> Future:
    """Await all; the result lists their results in argument order.

    Without ``return_exceptions`` the first failure (in event-log order) is raised and the
    other awaitables keep running, as in asyncio.
    """
    scheduler = _scheduler("asyncio.gather()")
    futures = [_as_future(scheduler, aw) for aw in awaitables]
    out = Future(scheduler)
    remaining = len(futures)
    if not futures:
        out.set_result([])
        return out

    def on_done(fut: Future) -> None:
        nonlocal remaining
        if out.done():
            return
        if fut.exception() is not None and not return_exceptions:
            out.set_exception(fut.exception())  # type: ignore[arg-type]
            return
        remaining -= 1
        if remaining == 0:
            out.set_result(
                [f.exception() if f.exception() is not None else f.result() for f in futures]
            )

    for fut in futures:
        fut.add_done_callback(on_done)
    return out


def race(*awaitables: Any) -> Future:
    """The first awaitable to finish wins: its result is returned (or its error raised).

    The others are abandoned: their durable work is never re-run and their results ignored.
    """
    scheduler = _scheduler("wdk.race()")
    if not awaitables:
        raise ValueError("race() needs at least one awaitable")
    futures = [_as_future(scheduler, aw) for aw in awaitables]
    out = Future(scheduler)

    def on_done(fut: Future) -> None:
        if out.done():
            return
        exc = fut.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            out.set_result(fut.result())

    for fut in futures:
        fut.add_done_callback(on_done)
    return out


def wait(
    awaitables: Iterable[Any], *, timeout: Any = None, return_when: str = ALL_COMPLETED
) -> Future:
    """Like ``asyncio.wait``: resolves to ``(done, pending)`` sets of futures.

    The sets iterate in a deterministic order (futures hash by creation order).
    ``timeout`` is a durable sleep, in any form ``wdk.sleep`` accepts.
    """
    scheduler = _scheduler("asyncio.wait()")
    futures = [_as_future(scheduler, aw) for aw in awaitables]
    if not futures:
        raise ValueError("asyncio.wait() needs at least one awaitable")
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(f"invalid return_when value: {return_when!r}")
    out = Future(scheduler)

    def finish(_: Future | None = None) -> None:
        if out.done():
            return
        done = {f for f in futures if f.done()}
        out.set_result((done, {f for f in futures if not f.done()}))

    def on_done(fut: Future) -> None:
        if out.done():
            return
        if return_when == FIRST_COMPLETED or (
            return_when == FIRST_EXCEPTION and fut.exception() is not None
        ):
            finish()
        elif all(f.done() for f in futures):
            finish()

    for fut in futures:
        fut.add_done_callback(on_done)
    if timeout is not None and not out.done():
        timer = sleep_future(timeout)
        timer.add_done_callback(finish)
    return out


def wait_for(awaitable: Any, timeout: Any) -> Future:
    """Await with a durable timeout; raises ``TimeoutError`` if the timer wins."""
    scheduler = _scheduler("asyncio.wait_for()")
    fut = _as_future(scheduler, awaitable)
    if timeout is None:
        return fut
    out = Future(scheduler)
    timer = sleep_future(timeout)

    def on_done(f: Future) -> None:
        if out.done():
            return
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            out.set_result(f.result())

    def on_timeout(_: Future) -> None:
        if not out.done():
            out.set_exception(TimeoutError(f"timed out after {timeout!r}"))

    fut.add_done_callback(on_done)
    timer.add_done_callback(on_timeout)
    return out


def sleep_future(duration: Any) -> Future:
    """A durable timer future (what ``wdk.sleep`` awaits)."""
    ctx: Any = current("sleep()")
    fut: Future = ctx.sleep(duration)
    return fut


async def sleep(delay: Any, result: Any = None) -> Any:
    """``asyncio.sleep`` in a workflow is a durable sleep."""
    await sleep_future(delay)
    return result
