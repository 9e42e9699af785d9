"""A deterministic scheduler for workflow coroutines.

Why not a real asyncio loop: a loop's order depends on I/O readiness and wall time, and
``asyncio.gather`` hands the driver futures it cannot persist. Workflow code instead awaits
:class:`Future` objects that only the engine resolves (from the event log), and tasks run from
a FIFO ready queue, so the same sequence of resolutions always yields the same interleaving.

Futures hash by their creation index within the run, so even ``set``s of them (what
``asyncio.wait`` returns) iterate in the same order on every replay.

**Library code and asyncio.** Workflow *user* code sees ``wdk.runtime.asyncio_shim``. Libraries
it calls (pydantic-ai's agent graph, anyio) are asyncio code: they ask for the running loop,
create asyncio tasks and futures, open anyio task groups and read ``asyncio.current_task()``.
For them, each scheduler has a :class:`WorkflowLoop`, an ``asyncio.AbstractEventLoop`` that is
the thread's running loop while :meth:`Scheduler.run_until_idle` runs (the worker's real loop is
put back afterwards):

* ``call_soon`` appends to the same FIFO ready queue as the wdk tasks, so asyncio tasks and
  future callbacks interleave with wdk tasks in one deterministic order;
* while a wdk :class:`Task` steps it is ``asyncio.current_task()``, and it answers the part of
  the ``asyncio.Task`` API that asyncio and anyio use (``cancel``, ``uncancel``,
  ``cancelling``, ``get_loop``...); like an asyncio task it runs in its own
  ``contextvars.Context``, so libraries' context variables do not leak between tasks;
* a wdk task may await an asyncio future bound to this loop (and a bare ``yield``, what
  ``asyncio.sleep(0)`` does); any other foreign awaitable, a real loop's future included, fails
  as before;
* timers (``call_later`` with a delay), threads and I/O raise ``SandboxError``: a workflow only
  waits on durable things. ``time()`` is the workflow clock.

Library code running in an asyncio task cannot await a wdk :class:`Future` (asyncio refuses
it); :meth:`Future.to_asyncio` gives an asyncio future of this loop that completes with it.

Rejected alternative: driving every workflow task as an ``asyncio.Task`` on the loop (with
wdk futures made duck-compatible with asyncio's). Every resumption would go through a
``call_soon`` handle, and the shim's deterministic combinators would have to be rebuilt on
asyncio's. The facade costs a loop swap per :meth:`Scheduler.run_until_idle` plus a context
switch and asyncio's current-task bookkeeping per step: about 1 us per resumption in a
microbenchmark, not measurable in ``bench/bench_runtime.py`` (a durable step costs ~0.5 ms).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sys
import time as _time
import weakref
from asyncio import events as _events
from asyncio import tasks as _tasks
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar, TypeVarTuple, cast

from wdk._context import current_or_none

__all__ = ["Future", "Scheduler", "Task", "WorkflowLoop"]

log = logging.getLogger("wdk.workflow")

_PENDING = object()
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

# asyncio's own bookkeeping of "the task running on a loop" (C functions, no type checks).
_enter_task: Callable[[Any, Any], None] = cast(Any, _tasks)._enter_task
_leave_task: Callable[[Any, Any], None] = cast(Any, _tasks)._leave_task
_get_running_loop = _events._get_running_loop
_set_running_loop = _events._set_running_loop


class _Runnable(Protocol):
    """What the ready queue holds: wdk tasks and the loop's callback handles."""

    def _step(self) -> None: ...


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

    def add_done_callback(
        self, callback: Callable[[Future], None], *, context: contextvars.Context | None = None
    ) -> None:
        """Call ``callback(self)`` when done (at once if already done), in ``context`` if given."""
        if context is not None:
            callback = functools.partial(cast(Any, context).run, callback)
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def remove_done_callback(self, callback: Callable[[Future], None]) -> int:
        """Forget ``callback``; returns how many registrations were removed."""
        before = len(self._callbacks)
        self._callbacks = [cb for cb in self._callbacks if cb != callback]
        return before - len(self._callbacks)

    def to_asyncio(self) -> asyncio.Future[Any]:
        """An asyncio future of the run's :class:`WorkflowLoop` that completes with this one.

        What library code running in an asyncio task awaits instead of this future (asyncio
        tasks refuse foreign awaitables). Cancelling the asyncio future does not cancel this
        one: durable work, once asked for, is recorded whatever happens to the waiter.
        """
        bridged: asyncio.Future[Any] = self._scheduler.loop.create_future()

        def settle(fut: Future) -> None:
            if bridged.done():
                return
            exc = fut.exception()
            if exc is not None:
                bridged.set_exception(exc)
            else:
                bridged.set_result(fut.result())

        self.add_done_callback(settle)
        return bridged

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Generator[Future, None, Any]:
        if not self.done():
            yield self
        return self.result()


class Task(Future):
    """A coroutine driven by the scheduler; awaiting it gives its return value.

    To library code it also looks like the ``asyncio.Task`` running it (see the module
    docstring): :meth:`cancel` and friends follow asyncio's semantics.
    """

    __slots__ = (
        "_cancel_message",
        "_cancels",
        "_context",
        "_coro",
        "_must_cancel",
        "_name",
        "_waiting_on",
    )

    def __init__(self, scheduler: Scheduler, coro: Coroutine[Any, Any, Any]) -> None:
        super().__init__(scheduler)
        self._coro = coro
        self._waiting_on: Any = None
        # Copied at the first step, inside run_until_idle, so it sees the running workflow.
        self._context: contextvars.Context | None = None
        self._must_cancel = False
        self._cancel_message: Any = None
        self._cancels = 0
        self._name: str | None = None

    def _step(self) -> None:
        self._waiting_on = None
        context = self._context
        if context is None:
            context = self._context = contextvars.copy_context()
        loop = self._scheduler.loop
        _enter_task(loop, self)
        try:
            if self._must_cancel:
                self._must_cancel = False
                error = asyncio.CancelledError(*_message_args(self._cancel_message))
                yielded = context.run(cast(Any, self._coro).throw, error)
            else:
                yielded = context.run(self._coro.send, None)
        except StopIteration as stop:
            self.set_result(stop.value)
            return
        except BaseException as exc:
            if self._scheduler.is_control_signal(exc):
                raise
            self.set_exception(exc)
            return
        finally:
            _leave_task(loop, self)
        if isinstance(yielded, Future):
            self._waiting_on = yielded
            yielded.add_done_callback(self._wake)
        elif yielded is None:  # a bare yield (asyncio.sleep(0)): go round the queue once
            self._scheduler._ready.append(self)
        elif _is_loop_future(yielded, loop):
            yielded._asyncio_future_blocking = False
            self._waiting_on = yielded
            yielded.add_done_callback(self._wake)
        else:
            context.run(self._coro.close)
            self.set_exception(self._scheduler.foreign_await_error(yielded))
            return
        if self._must_cancel:  # cancelled by itself while running: asyncio cancels the wait
            self._cancel_wait()

    def _wake(self, fut: Any) -> None:
        if self._waiting_on is fut:
            self._waiting_on = None
            self._scheduler._ready.append(self)

    def _cancel_wait(self) -> None:
        waiter = self._waiting_on
        if waiter is None:
            return
        if isinstance(waiter, Future):
            # A durable wait cannot be cancelled; stop waiting and raise at the next step.
            self._waiting_on = None
            self._scheduler._ready.append(self)
        elif waiter.cancel(self._cancel_message):
            self._must_cancel = False

    def close(self) -> None:
        """Abandon the coroutine (only at teardown: ``finally`` blocks run)."""
        if self.done():
            return
        if self._context is None:
            self._coro.close()
        else:
            self._context.run(self._coro.close)

    # -- the asyncio.Task API that asyncio and anyio use on asyncio.current_task() ----------
    def cancel(self, msg: Any = None) -> bool:
        """Request cancellation, as ``asyncio.Task.cancel``: ``CancelledError`` at the await.

        A wait on an asyncio future is cancelled; a wait on a durable future is abandoned
        (the durable call still completes and is recorded; its result is ignored).
        """
        if self.done():
            return False
        self._cancels += 1
        waiter = self._waiting_on
        if waiter is not None and not isinstance(waiter, Future) and waiter.cancel(msg):
            return True
        self._must_cancel = True
        self._cancel_message = msg
        if isinstance(waiter, Future):
            self._cancel_wait()
        return True

    def uncancel(self) -> int:
        """Undo one :meth:`cancel` request, as ``asyncio.Task.uncancel``."""
        if self._cancels > 0:
            self._cancels -= 1
            if self._cancels == 0:
                self._must_cancel = False
        return self._cancels

    def cancelling(self) -> int:
        """How many cancellation requests are pending, as ``asyncio.Task.cancelling``."""
        return self._cancels

    def cancelled(self) -> bool:
        """Whether the task ended with ``CancelledError``."""
        return isinstance(self._exc, asyncio.CancelledError)

    def get_loop(self) -> WorkflowLoop:
        """The run's :class:`WorkflowLoop`."""
        return self._scheduler.loop

    def get_coro(self) -> Coroutine[Any, Any, Any]:
        """The coroutine this task drives."""
        return self._coro

    def get_context(self) -> contextvars.Context:
        """The task's ``contextvars.Context``."""
        if self._context is None:
            self._context = contextvars.copy_context()
        return self._context

    def get_name(self) -> str:
        """A name for logs (``wdk-task-<creation index>`` unless set)."""
        return self._name or f"wdk-task-{self._index}"

    def set_name(self, value: object) -> None:
        """Rename the task."""
        self._name = str(value)

    @property
    def _fut_waiter(self) -> Any:
        return self._waiting_on

    @property
    def _loop(self) -> WorkflowLoop:
        return self._scheduler.loop


def _message_args(msg: Any) -> tuple[Any, ...]:
    return () if msg is None else (msg,)


def _is_loop_future(obj: object, loop: WorkflowLoop) -> bool:
    if getattr(obj, "_asyncio_future_blocking", None) is None:
        return False
    get_loop = getattr(obj, "get_loop", None)
    return get_loop is not None and get_loop() is loop


class Scheduler:
    """Runs ready tasks in FIFO order until none can progress."""

    def __init__(
        self,
        *,
        is_control_signal: Callable[[BaseException], bool] = lambda _: False,
        foreign_await_error: Callable[[object], BaseException] | None = None,
    ) -> None:
        self._ready: deque[_Runnable] = deque()
        self._index = 0
        self.tasks: list[Task] = []
        self.is_control_signal = is_control_signal
        self.foreign_await_error = foreign_await_error or _foreign_await_error
        self.loop = WorkflowLoop(self)
        """The asyncio face of this scheduler, for library code (see the module docstring)."""

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
        """Step ready tasks until every task is blocked or done.

        Meanwhile :attr:`loop` is the thread's running asyncio loop (and owns async generator
        finalization); the previous loop is restored afterwards, also on errors.
        """
        ready = self._ready
        if not ready:
            return
        loop = self.loop
        previous = _get_running_loop()
        hooks = sys.get_asyncgen_hooks()
        _set_running_loop(loop)
        sys.set_asyncgen_hooks(*loop._asyncgen_hooks)
        try:
            while ready:
                ready.popleft()._step()
        finally:
            sys.set_asyncgen_hooks(*hooks)
            _set_running_loop(previous)

    def close(self) -> None:
        """Abandon every unfinished task, the asyncio tasks of library code included."""
        loop = self.loop
        previous = _get_running_loop()
        _set_running_loop(loop)
        try:
            for task in self.tasks:
                _enter_task(loop, task)
                try:
                    task.close()
                finally:
                    _leave_task(loop, task)
            loop._abandon_tasks()
        finally:
            self._ready.clear()
            _set_running_loop(previous)


def _refuse_io(name: str) -> Any:
    def refuse(self: WorkflowLoop, *args: Any, **kwargs: Any) -> Any:
        raise _sandbox_error(f"asyncio loop.{name}()", "it is I/O")

    refuse.__name__ = name
    refuse.__doc__ = "Refused: I/O belongs in a step."
    return refuse


class _Callback(asyncio.Handle):
    """A ``call_soon`` callback in the ready queue."""

    __slots__ = ()

    def _step(self) -> None:
        if not self._cancelled:
            self._run()


class WorkflowLoop(asyncio.AbstractEventLoop):
    """The asyncio event loop library code sees while workflow code runs.

    Deterministic: callbacks and asyncio tasks run from the scheduler's FIFO ready queue, in
    the order they were scheduled. Timers with a delay, threads, subprocesses and I/O raise
    :class:`wdk.SandboxError`; ``call_soon_threadsafe`` raises ``NotImplementedError`` (no
    other thread may steer a workflow). Only the scheduler drives it: ``run_forever`` and
    friends raise.
    """

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._exception_handler: Any = None
        self._asyncgen_hooks = (self._asyncgen_firstiter_hook, self._asyncgen_finalizer_hook)

    def __repr__(self) -> str:
        return f"<WorkflowLoop of {self._scheduler!r}>"

    # -- scheduling ------------------------------------------------------------------------
    def call_soon(
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Run ``callback(*args)`` after everything already in the ready queue."""
        handle = _Callback(callback, args, self, context)
        self._scheduler._ready.append(handle)
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """Only ``delay <= 0`` (then as :meth:`call_soon`): a wall-clock timer is not durable."""
        if delay > 0:
            raise _timer_error(delay)
        return cast(asyncio.TimerHandle, self.call_soon(callback, *args, context=context))

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """Only for a time already reached (then as :meth:`call_soon`); see :meth:`call_later`."""
        return self.call_later(when - self.time(), callback, *args, context=context)

    def call_soon_threadsafe(
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Refused: only the workflow's own code may steer it, or replay would diverge."""
        raise NotImplementedError(
            "a workflow's event loop cannot be reached from another thread or event loop: "
            "what happens in a workflow must come from its event log"
        )

    def time(self) -> float:
        """The workflow clock (epoch seconds); ``time.monotonic()`` outside a running workflow."""
        ctx = current_or_none()
        return ctx.now() if ctx is not None else _time.monotonic()

    # -- futures and tasks -----------------------------------------------------------------
    def create_future(self) -> asyncio.Future[Any]:
        """An ``asyncio.Future`` bound to this loop (a wdk task may await it)."""
        return asyncio.Future(loop=self)

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        """A real ``asyncio.Task`` whose steps run from the scheduler's ready queue."""
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

    def get_task_factory(self) -> None:
        """No task factory: tasks are plain ``asyncio.Task`` objects."""
        return None

    def set_task_factory(self, factory: Any) -> None:
        """Refused (task creation order is part of the workflow's determinism)."""
        raise _sandbox_error("asyncio loop.set_task_factory()", "it would change how tasks run")

    def _abandon_tasks(self) -> None:
        """Close the coroutines of unfinished asyncio tasks (the run is being torn down)."""
        for task in list(self._tasks):
            if task.done():
                continue
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            _enter_task(self, task)
            try:
                task.get_coro().close()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - teardown goes on
                log.debug("closing %r raised", task, exc_info=True)
            finally:
                _leave_task(self, task)

    # -- state -----------------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether the scheduler is running ready work right now."""
        return _get_running_loop() is self

    def is_closed(self) -> bool:
        """Never: the loop lives as long as its run."""
        return False

    def get_debug(self) -> bool:
        """Always False."""
        return False

    def set_debug(self, enabled: bool) -> None:
        """Ignored (debug mode records wall-clock timings)."""

    def run_forever(self) -> None:
        """Refused: only the wdk scheduler drives this loop."""
        raise RuntimeError("a WorkflowLoop is driven by the wdk scheduler, not run directly")

    def run_until_complete(self, future: Any) -> Any:
        """Refused: only the wdk scheduler drives this loop."""
        raise RuntimeError("a WorkflowLoop is driven by the wdk scheduler, not run directly")

    def stop(self) -> None:
        """Refused: only the wdk scheduler drives this loop."""
        raise RuntimeError("a WorkflowLoop is driven by the wdk scheduler, not stopped directly")

    def close(self) -> None:
        """Refused: the loop closes with its run."""
        raise RuntimeError("a WorkflowLoop closes with its workflow run")

    async def shutdown_asyncgens(self) -> None:
        """Close the async generators first iterated on this loop."""
        for agen in list(self._asyncgens):
            await agen.aclose()

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Nothing to do: there is no executor."""

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        self._asyncgens.discard(agen)
        self.create_task(agen.aclose())

    # -- errors ----------------------------------------------------------------------------
    def get_exception_handler(self) -> Any:
        """The handler set with :meth:`set_exception_handler`, if any."""
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        """Route :meth:`call_exception_handler` to ``handler(loop, context)``."""
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log an error nobody awaited (a failed callback, a task destroyed while pending)."""
        exc = context.get("exception")
        log.warning(
            "workflow event loop: %s",
            context.get("message", "unhandled error"),
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
        )

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Report an error nobody awaited (logged by default)."""
        if self._exception_handler is None:
            self.default_exception_handler(context)
        else:
            self._exception_handler(self, context)

    # -- threads ---------------------------------------------------------------------------
    def run_in_executor(
        self, executor: Any, func: Callable[[*_Ts], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        """Refused: workflow code has no threads."""
        raise _sandbox_error(
            "asyncio loop.run_in_executor()",
            "workflow code runs on a deterministic scheduler, without threads",
        )

    def set_default_executor(self, executor: Any) -> None:
        """Refused: workflow code has no threads."""
        raise _sandbox_error("asyncio loop.set_default_executor()", "workflow code has no threads")

    # -- I/O: refused --------------------------------------------------------------------
    add_reader = _refuse_io("add_reader")
    add_signal_handler = _refuse_io("add_signal_handler")
    add_writer = _refuse_io("add_writer")
    connect_accepted_socket = _refuse_io("connect_accepted_socket")
    connect_read_pipe = _refuse_io("connect_read_pipe")
    connect_write_pipe = _refuse_io("connect_write_pipe")
    create_connection = _refuse_io("create_connection")
    create_datagram_endpoint = _refuse_io("create_datagram_endpoint")
    create_server = _refuse_io("create_server")
    create_unix_connection = _refuse_io("create_unix_connection")
    create_unix_server = _refuse_io("create_unix_server")
    getaddrinfo = _refuse_io("getaddrinfo")
    getnameinfo = _refuse_io("getnameinfo")
    remove_reader = _refuse_io("remove_reader")
    remove_signal_handler = _refuse_io("remove_signal_handler")
    remove_writer = _refuse_io("remove_writer")
    sendfile = _refuse_io("sendfile")
    sock_accept = _refuse_io("sock_accept")
    sock_connect = _refuse_io("sock_connect")
    sock_recv = _refuse_io("sock_recv")
    sock_recv_into = _refuse_io("sock_recv_into")
    sock_recvfrom = _refuse_io("sock_recvfrom")
    sock_recvfrom_into = _refuse_io("sock_recvfrom_into")
    sock_sendall = _refuse_io("sock_sendall")
    sock_sendfile = _refuse_io("sock_sendfile")
    sock_sendto = _refuse_io("sock_sendto")
    start_tls = _refuse_io("start_tls")
    subprocess_exec = _refuse_io("subprocess_exec")
    subprocess_shell = _refuse_io("subprocess_shell")


def _sandbox_error(what: str, why: str) -> BaseException:
    from wdk.errors import SandboxError

    return SandboxError(
        f"{what} is not available in workflow code ({why}). Do it in a 'use step' function."
    )


def _timer_error(delay: float) -> BaseException:
    from wdk.errors import SandboxError

    return SandboxError(
        f"a timer of {delay:g}s was requested on the workflow's event loop (asyncio.sleep, "
        "loop.call_later, a timeout or an anyio deadline in library code): wall-clock timers "
        "are not durable and would not replay. Use `await wdk.sleep(...)` in workflow code "
        "for a durable timer, or move the timed work into a 'use step' function."
    )


def _foreign_await_error(obj: object) -> BaseException:
    from wdk.errors import SandboxError

    return SandboxError(
        f"workflow code awaited {type(obj).__name__!s}, which is not a wdk awaitable: "
        "real asyncio futures, event loops and I/O libraries cannot be used in a workflow. "
        "Call them from a 'use step' function instead."
    )
