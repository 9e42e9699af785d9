"""A deterministic scheduler for workflow coroutines.

Why not a real asyncio loop: a loop's order depends on I/O readiness and wall time, and
``asyncio.gather`` hands the driver futures it cannot persist. Workflow code instead awaits
:class:`Future` objects that only the engine resolves (from the event log), and tasks run from
a FIFO ready queue, so the same sequence of resolutions always yields the same interleaving.

Futures hash by their creation index within the run, so even ``set``s of them (what
``asyncio.wait`` returns) iterate in the same order on every replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["Future", "Scheduler", "Task"]

_PENDING = object()


class Future:
    """A value the workflow awaits; resolved only by the engine."""

    __slots__ = ("_callbacks", "_exc", "_index", "_result", "_scheduler", "cid", "__weakref__")

    def __init__(self, scheduler: Scheduler, cid: str | None = None) -> None:
        self._scheduler = scheduler
        self._index = scheduler._next_index()
        self._result: Any = _PENDING
        self._exc: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []
        self.cid = cid

    def __hash__(self) -> int:
        return self._index

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        state = "pending" if not self.done() else "done"
        return f"<{type(self).__name__} #{self._index} {self.cid or ''} {state}>"

    def done(self) -> bool:
        """Whether a result or an exception has been set."""
        return self._result is not _PENDING or self._exc is not None

    def result(self) -> Any:
        """The result, or raise the exception. Only valid once done."""
        if self._exc is not None:
            raise self._exc
        if self._result is _PENDING:
            raise RuntimeError("result() called on a pending future")
        return self._result

    def exception(self) -> BaseException | None:
        """The exception the future failed with, if any."""
        return self._exc

    def set_result(self, value: Any) -> None:
        """Resolve with ``value`` (ignored if already done)."""
        if self.done():
            return
        self._result = value
        self._fire()

    def set_exception(self, exc: BaseException) -> None:
        """Fail with ``exc`` (ignored if already done)."""
        if self.done():
            return
        self._exc = exc
        self._fire()

    def add_done_callback(self, callback: Callable[[Future], None]) -> None:
        """Call ``callback(self)`` when done (at once if already done)."""
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator[Future, None, Any]:
        if not self.done():
            yield self
        return self.result()


class Task(Future):
    """A coroutine driven by the scheduler; awaiting it gives its return value."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, scheduler: Scheduler, coro: Coroutine[Any, Any, Any]) -> None:
        super().__init__(scheduler)
        self._coro = coro
        self._waiting_on: Future | None = None

    def _step(self) -> None:
        self._waiting_on = None
        try:
            yielded = self._coro.send(None)
        except StopIteration as stop:
            self.set_result(stop.value)
            return
        except BaseException as exc:
            if self._scheduler.is_control_signal(exc):
                raise
            self.set_exception(exc)
            return
        if not isinstance(yielded, Future):
            self._coro.close()
            self.set_exception(self._scheduler.foreign_await_error(yielded))
            return
        self._waiting_on = yielded
        yielded.add_done_callback(self._wake)

    def _wake(self, _: Future) -> None:
        self._scheduler._ready.append(self)

    def close(self) -> None:
        """Abandon the coroutine (only at teardown: ``finally`` blocks run)."""
        if not self.done():
            self._coro.close()


class Scheduler:
    """Runs ready tasks in FIFO order until none can progress."""

    def __init__(
        self,
        *,
        is_control_signal: Callable[[BaseException], bool] = lambda _: False,
        foreign_await_error: Callable[[object], BaseException] | None = None,
    ) -> None:
        self._ready: deque[Task] = deque()
        self._index = 0
        self.tasks: list[Task] = []
        self.is_control_signal = is_control_signal
        self.foreign_await_error = foreign_await_error or _foreign_await_error

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Task:
        """Wrap ``coro`` in a task that starts at the next :meth:`run_until_idle`."""
        task = Task(self, coro)
        self.tasks.append(task)
        self._ready.append(task)
        return task

    def run_until_idle(self) -> None:
        """Step ready tasks until every task is blocked or done."""
        ready = self._ready
        while ready:
            ready.popleft()._step()

    def close(self) -> None:
        """Abandon every unfinished task."""
        for task in self.tasks:
            task.close()


def _foreign_await_error(obj: object) -> BaseException:
    from wdk.errors import SandboxError

    return SandboxError(
        f"workflow code awaited {type(obj).__name__!s}, which is not a wdk awaitable: "
        "real asyncio futures, event loops and I/O libraries cannot be used in a workflow. "
        "Call them from a 'use step' function instead."
    )
