"""What ``import asyncio`` gives workflow code: deterministic, durable stand-ins.

``gather``, ``wait``, ``wait_for``, ``create_task``, ``ensure_future`` and ``sleep`` run on
the workflow's deterministic scheduler; the exception classes are the real ones, so
``except asyncio.CancelledError`` and ``except TimeoutError`` work. Anything else (event
loops, real futures, threads, subprocesses) raises :class:`wdk.SandboxError`.
"""

from __future__ import annotations

import asyncio as _asyncio
from typing import Any

from wdk.errors import SandboxError
from wdk.runtime._concurrency import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    create_task,
    ensure_future,
    gather,
    sleep,
    wait,
    wait_for,
)
from wdk.runtime._scheduler import Future, Task

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "CancelledError",
    "Future",
    "InvalidStateError",
    "Task",
    "TimeoutError",
    "create_task",
    "ensure_future",
    "gather",
    "sleep",
    "wait",
    "wait_for",
]

CancelledError = _asyncio.CancelledError
InvalidStateError = _asyncio.InvalidStateError
TimeoutError = TimeoutError  # noqa: A001, PLW0127 - re-exported builtin, as asyncio does


def __getattr__(name: str) -> Any:
    raise SandboxError(
        f"asyncio.{name} is not available in workflow code: workflows run on a deterministic "
        "scheduler, not an event loop. Use asyncio.gather/wait/wait_for/create_task/sleep or "
        "wdk.race here, and do anything else in a 'use step' function."
    )
