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
    """One pending ``wait_for_change``: a future on the waiter's loop, woken by ``notify``."""

    __slots__ = ("_future", "_loop", "_thread", "topics")

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self._loop = asyncio.get_running_loop()
        self._future: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.get_ident()

    def wake(self) -> None:
        """Wake the waiter (idempotent; callable from any thread)."""
        if threading.get_ident() == self._thread:
            _resolve(self._future)
        else:
            try:
                self._loop.call_soon_threadsafe(_resolve, self._future)
            except RuntimeError:  # the waiter's loop is closed: nobody to wake
                pass

    async def wait(
        self,
        timeout: float,
        poll: Callable[[], int] | None = None,
        *,
        poll_min: float = 0.002,
        poll_max: float = 0.05,
    ) -> bool:
        """Sleep until woken, ``poll()`` reports ``HIT``, or ``timeout`` seconds pass."""
        future = self._future
        if future.done():
            return True
        if timeout <= 0:
            return False
        if poll is None:
            done, _ = await asyncio.wait((future,), timeout=timeout)
            return bool(done)
        loop = self._loop
        deadline = loop.time() + timeout
        interval = poll_min
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            done, _ = await asyncio.wait((future,), timeout=min(interval, remaining))
            if done:
                return True
            seen = poll()
            if seen == HIT:
                return True
            interval = poll_min if seen == ACTIVE else min(interval * 2, poll_max)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
