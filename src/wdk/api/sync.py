"""Blocking twins of :mod:`wdk.api`, for scripts and synchronous frameworks.

Every call runs on one event loop the process keeps in a background thread (an anyio blocking
portal, started on first use). A world opened there stays on that loop from call to call,
which a PostgreSQL world's connection pool needs; a fresh loop per call would strand it.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from wdk import api as _api
from wdk.errors import WorkflowError
from wdk.worlds.base import World

__all__ = ["Run", "get_hook_by_token", "get_run", "list_runs", "resume_hook", "start"]

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_portal_cm: AbstractContextManager[BlockingPortal] | None = None


def _call(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` on the background loop and wait for its result (or its error)."""
    global _portal, _portal_cm
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise WorkflowError(
            "wdk.api.sync was called from async code, where it would block the event loop: "
            "await the same function from wdk.api instead"
        )
    with _lock:
        if _portal is None:
            _portal_cm = start_blocking_portal(name="wdk-sync")
            _portal = _portal_cm.__enter__()
            atexit.register(_stop)
        portal = _portal
    return portal.call(fn)


def _stop() -> None:
    global _portal, _portal_cm
    with _lock:
        cm, _portal, _portal_cm = _portal_cm, None, None
    if cm is not None:
        cm.__exit__(None, None, None)


class Run:
    """Blocking twin of :class:`wdk.api.Run`."""

    def __init__(self, run: _api.Run) -> None:
        self._run = run
        self.run_id = run.run_id
        self.existing = run.existing  #: the start answered an existing run (dedupe, debounce)

    def status(self) -> str:
        """The run's status."""
        return _call(self._run.status)

    def return_value(self, timeout: float | None = None) -> Any:
        """Wait for the end; the return value or the error raised."""
        return _call(lambda: self._run.return_value(timeout))

    def cancel(self) -> None:
        """Cancel the run."""
        _call(self._run.cancel)


def start(
    workflow: Any,
    args: Sequence[Any] = (),
    *,
    world: World | None = None,
    run_id: str | None = None,
    **flow: Any,
) -> Run:
    """Blocking :func:`wdk.api.start` (``queue=``, ``key=``, ... as there)."""
    return Run(_call(lambda: _api.start(workflow, args, world=world, run_id=run_id, **flow)))


def get_run(run_id: str, *, world: World | None = None) -> Run:
    """Blocking :func:`wdk.api.get_run`."""
    return Run(_api.get_run(run_id, world=world))


def list_runs(**kwargs: Any) -> Any:
    """Blocking :func:`wdk.api.list_runs`."""
    return _call(lambda: _api.list_runs(**kwargs))


def resume_hook(token: str, payload: Any, *, world: World | None = None) -> _api.HookResumeResult:
    """Blocking :func:`wdk.api.resume_hook`."""
    return _call(lambda: _api.resume_hook(token, payload, world=world))


def get_hook_by_token(token: str, *, world: World | None = None) -> _api.HookInfo | None:
    """Blocking :func:`wdk.api.get_hook_by_token`."""
    return _call(lambda: _api.get_hook_by_token(token, world=world))
