"""Threads for sync steps: a cheaper hop than ``loop.run_in_executor``.

A sync step must not block the event loop, so it runs in a thread; for a trivial step that
hop is a large part of the step's cost. ``ThreadPoolExecutor`` plus ``run_in_executor``
creates a ``concurrent.futures.Future``, chains it to an asyncio future and takes a semaphore
per call; here a call is one queue put and one ``call_soon_threadsafe`` back (none for a
detached call, whose caller needs no answer: ``submit``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["StepThreads"]

#: (loop, future, call); loop and future are None for a detached call (see ``submit``).
_Job = tuple[asyncio.AbstractEventLoop | None, "asyncio.Future[Any] | None", Callable[[], Any]]

log = logging.getLogger("wdk.worker")


class StepThreads:
    """Up to ``max_threads`` daemon threads, started on demand and kept for reuse."""

    def __init__(self, max_threads: int, name: str = "wdk-step") -> None:
        self._max = max(1, max_threads)
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads done with a job and not yet promised to a new one
        self._running = 0  # threads running a job
        self._closed = False

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``call()`` in a thread; the returned future (of the running loop) gets its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._put((loop, future, call))
        return future

    def submit(self, call: Callable[[], Any]) -> None:
        """Run ``call()`` in a thread with nobody awaiting it (no event loop woken at its end).

        ``call`` reports its own outcome; an exception escaping it is logged.
        """
        self._put((None, None, call))

    def busy(self) -> bool:
        """Work waits for a thread: every thread runs a job and more are queued (a hint)."""
        return self._running >= self._max and not self._jobs.empty()

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the step threads are shut down")
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._jobs.put(job)

    def shutdown(self) -> None:
        """Let every thread exit once the jobs already queued are done."""
        with self._lock:
            self._closed = True
            for _ in self._threads:
                self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._lock:
                self._running += 1
            loop, future, call = job
            try:
                result = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                if loop is None or future is None:
                    log.exception("a detached step-thread call failed")
                else:
                    _post(loop, future, None, exc)
            else:
                if loop is not None and future is not None:
                    _post(loop, future, result, None)
            with self._lock:
                self._running -= 1
                self._idle += 1


def _post(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, exc)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return  # the awaiting task was cancelled
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
