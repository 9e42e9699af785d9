"""One run's lock, shared by the worker's event-loop tasks and its step threads.

Everything that touches a run's cached instance (feeding it events, applying a resolution,
writing its commands) holds the run's lock. Event-loop tasks take it with ``async with``;
they keep it across their awaits, so among themselves they queue on an ``anyio.Lock``. A
step thread that records its sync step and goes on with the run's next step (see
``Worker._chain``) takes it with ``with lock.blocking():`` and may block: it is a thread.

Underneath both is one ``threading.Lock``. A task that finds it held by a thread (only for
the length of an apply and a commit) waits on a future the thread resolves when it lets go,
so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import anyio

__all__ = ["RunLock"]


class RunLock:
    """Mutual exclusion on one run between event-loop tasks and threads."""

    __slots__ = ("_mutex", "_tasks", "_waiter")

    def __init__(self) -> None:
        # fast_acquire: an uncontended lock (the usual case) costs no trip round the loop.
        self._tasks = anyio.Lock(fast_acquire=True)
        self._mutex = threading.Lock()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def locked(self) -> bool:
        """Whether a task or a thread holds the lock."""
        return self._tasks.locked() or self._mutex.locked()

    async def __aenter__(self) -> None:
        await self._tasks.acquire()
        try:
            while not self._mutex.acquire(blocking=False):
                loop = asyncio.get_running_loop()
                future: asyncio.Future[None] = loop.create_future()
                self._waiter = (loop, future)
                # The thread may have let go between the try and the waiter being set.
                if self._mutex.acquire(blocking=False):
                    self._waiter = None
                    return
                await future
        except BaseException:
            self._waiter = None
            self._tasks.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._mutex.release()
        self._tasks.release()

    def blocking(self) -> _Blocking:
        """Hold the lock from a thread other than the event loop's, blocking until it is free.

        ``with lock.blocking(): ...``
        """
        return _Blocking(self)

    def _release_from_thread(self) -> None:
        self._mutex.release()
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, future = waiter
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more


class _Blocking:
    """The context manager of :meth:`RunLock.blocking` (a class: cheaper than a generator)."""

    __slots__ = ("_lock",)

    def __init__(self, lock: RunLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock._mutex.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock._release_from_thread()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
