"""Blocking twins of :mod:`wdk.api`, for scripts and synchronous frameworks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from wdk import api as _api
from wdk.worlds.base import World

__all__ = ["Run", "get_hook_by_token", "get_run", "list_runs", "resume_hook", "start"]


class Run:
    """Blocking twin of :class:`wdk.api.Run`."""

    def __init__(self, run: _api.Run) -> None:
        self._run = run
        self.run_id = run.run_id

    def status(self) -> str:
        """The run's status."""
        return anyio.run(self._run.status)

    def return_value(self, timeout: float | None = None) -> Any:
        """Wait for the end; the return value or the error raised."""
        return anyio.run(lambda: self._run.return_value(timeout))

    def cancel(self) -> None:
        """Cancel the run."""
        anyio.run(self._run.cancel)


def start(
    workflow: Any,
    args: Sequence[Any] = (),
    *,
    world: World | None = None,
    run_id: str | None = None,
) -> Run:
    """Blocking :func:`wdk.api.start`."""
    return Run(anyio.run(lambda: _api.start(workflow, args, world=world, run_id=run_id)))


def get_run(run_id: str, *, world: World | None = None) -> Run:
    """Blocking :func:`wdk.api.get_run`."""
    return Run(_api.get_run(run_id, world=world))


def list_runs(**kwargs: Any) -> Any:
    """Blocking :func:`wdk.api.list_runs`."""
    return anyio.run(lambda: _api.list_runs(**kwargs))


def resume_hook(token: str, payload: Any, *, world: World | None = None) -> _api.HookResumeResult:
    """Blocking :func:`wdk.api.resume_hook`."""
    return anyio.run(lambda: _api.resume_hook(token, payload, world=world))


def get_hook_by_token(token: str, *, world: World | None = None) -> _api.HookInfo | None:
    """Blocking :func:`wdk.api.get_hook_by_token`."""
    return anyio.run(lambda: _api.get_hook_by_token(token, world=world))
