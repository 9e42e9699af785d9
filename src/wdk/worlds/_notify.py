"""In-process change notification shared by the memory and SQLite worlds.

A :class:`ChangeHub` maps topics (``"queue"``, ``"run:<id>"``, ``"done:<id>"``,
``"stream:<id>:<ns>"``) to the waiters sleeping on them. A committing writer calls
:meth:`ChangeHub.notify` after its commit; every waiter registered on one of the touched
topics is woken at once, from any thread (the waiter's event loop is woken with
``call_soon_threadsafe`` when the writer runs elsewhere).

Waiters register *before* they take any baseline of the store, so a commit racing with the
start of a wait is never missed: either it lands before the registration (and the caller's
own re-check after waking sees it) or the notification finds the waiter.

A world whose other writers live in other processes (SQLite) passes a ``poll`` callback: the
hub then sleeps in short slices, calling it in between. The slice starts at ``poll_min`` and
doubles up to ``poll_max`` while nothing happens anywhere; any foreign commit (even one on
another topic) resets it to ``poll_min``, so a busy system is seen within milliseconds and an
idle one costs a few cheap queries a second. It is never a busy loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Sequence

__all__ = ["ACTIVE", "HIT", "IDLE", "ChangeHub", "Waiter"]

#: ``poll`` results: nothing committed elsewhere / a foreign commit on other topics /
#: a foreign commit on one of the waited topics.
IDLE, ACTIVE, HIT = 0, 1, 2


class Waiter:
    """One pending ``wait_for_change``, woken by ``notify`` from any thread.

    The waiting task awaits one future per slice of its wait (resolved True by a wake-up,
    False by the slice's timer): a wake-up reaches the task in one turn of its event loop.
    """

    __slots__ = ("_loop", "_slice", "_thread", "_woken", "topics")

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._woken = False
        self._slice: asyncio.Future[bool] | None = None

    def wake(self) -> None:
        """Wake the waiter (idempotent; callable from any thread)."""
        if threading.get_ident() == self._thread:
            self._set()
        else:
            try:
                self._loop.call_soon_threadsafe(self._set)
            except RuntimeError:  # the waiter's loop is closed: nobody to wake
                pass

    def _set(self) -> None:
        self._woken = True
        _settle(self._slice, True)

    async def wait(
        self,
        timeout: float,
        poll: Callable[[], int] | None = None,
        *,
        poll_min: float = 0.002,
        poll_max: float = 0.05,
    ) -> bool:
        """Sleep until woken, ``poll()`` reports ``HIT``, or ``timeout`` seconds pass."""
        if self._woken:
            return True
        if timeout <= 0:
            return False
        loop = self._loop
        deadline = loop.time() + timeout
        interval = poll_min if poll is not None else timeout
        while True:
            if self._woken:  # a wake-up that came after its slice's timer fired
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            future: asyncio.Future[bool] = loop.create_future()
            timer = loop.call_later(min(interval, remaining), _settle, future, False)
            self._slice = future
            try:
                if await future:
                    return True
            finally:
                timer.cancel()
                self._slice = None
            if poll is None:
                continue
            seen = poll()
            if seen == HIT:
                return True
            interval = poll_min if seen == ACTIVE else min(interval * 2, poll_max)


def _settle(future: asyncio.Future[bool] | None, woken: bool) -> None:
    if future is not None and not future.done():
        future.set_result(woken)


class ChangeHub:
    """Topic -> waiters registry. Thread-safe; one per store per process."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}

    def register(self, topics: Sequence[str]) -> Waiter:
        """Start waiting on ``topics`` (call from inside the waiting task's event loop)."""
        waiter = Waiter(tuple(topics))
        with self._lock:
            for topic in waiter.topics:
                self._waiters.setdefault(topic, set()).add(waiter)
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        """Stop waiting (always call, in a ``finally``)."""
        with self._lock:
            for topic in waiter.topics:
                waiters = self._waiters.get(topic)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[topic]

    def notify(self, topics: Iterable[str]) -> None:
        """Wake every waiter on one of ``topics``. Call after the commit, never before."""
        if not self._waiters:  # the common case on a worker's hot path: nobody waits
            return
        woken: list[Waiter] = []
        with self._lock:
            for topic in topics:
                waiters = self._waiters.get(topic)
                if waiters:
                    woken.extend(waiters)
        for waiter in woken:
            waiter.wake()
