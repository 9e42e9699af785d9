"""The seam between workflow code and the engine running it.

While the engine drives a workflow coroutine it sets :data:`_current` to the run's
:class:`WorkflowContext`. Everything workflow-side (``wdk.sleep``, step proxies, the sandbox's
``time``/``datetime``/``random``/``uuid``/``asyncio`` shims) asks :func:`current` for it; outside
a workflow there is none and those calls say where they are allowed instead.
"""

from __future__ import annotations

import random as _random
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["WorkflowContext", "current", "current_or_none", "use"]


class WorkflowContext(Protocol):
    """What workflow-side code may ask of the engine."""

    run_id: str
    workflow_id: str
    started_at: float

    @property
    def random(self) -> _random.Random:
        """The run's random generator, seeded from the run id: replay gives the same draws."""
        ...

    def now(self) -> float:
        """The workflow clock in epoch seconds.

        It starts at the run's start and advances to the time of each event as it is
        replayed, so it is deterministic.
        """
        ...

    def log(self, text: str) -> None:
        """Where ``print`` in workflow code goes (the run's log; silent during replay)."""
        ...

    def schedule(self, command: Any) -> Any:
        """Register a durable command (step call, sleep, hook) and return its awaitable."""
        ...


_current: ContextVar[WorkflowContext | None] = ContextVar("wdk_workflow_context", default=None)


def current_or_none() -> WorkflowContext | None:
    """The running workflow's context, or None outside workflow code."""
    return _current.get()


def current(what: str) -> WorkflowContext:
    """The running workflow's context; ``what`` names the caller for the error otherwise."""
    ctx = _current.get()
    if ctx is None:
        from wdk.errors import WorkflowError

        raise WorkflowError(
            f"{what} can only be used inside a workflow function (one whose first statement "
            f'is "use workflow"); it was called outside any running workflow.'
        )
    return ctx


def use(ctx: WorkflowContext | None) -> Any:
    """Make ``ctx`` current; returns the token to reset with ``_current.reset``."""
    return _current.set(ctx)
