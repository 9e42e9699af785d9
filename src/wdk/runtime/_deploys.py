"""Shipping code changes under in-flight runs: retry, fork, export and replay.

The operations behind ``wdk retry|fork|export|replay`` and their HTTP twins. Everything here
works on a world and a project; nothing runs a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wdk.runtime._loader import Project
from wdk.worlds.base import World

__all__ = [
    "HISTORY_FORMAT",
    "ReplayResult",
    "export_history",
    "fork_run",
    "load_history",
    "replay_history",
    "replay_runs",
    "resolve_run_id",
    "retry_run",
]

#: ``format`` of an exported history (``wdk export``); bumped on an incompatible change.
HISTORY_FORMAT = "wdk-history/1"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What replaying one run's history against the current code found.

    ``ok`` is True when the code makes the same durable calls the log recorded (it may go on
    past the log's end: that is progress, not divergence). Otherwise ``event`` is the log's
    seq where it diverged (None when the workflow itself is missing), ``location`` the user's
    ``file:line``, ``message`` the whole explanation and ``suggestion`` what to do.
    """

    run_id: str
    workflow_id: str
    ok: bool
    code: str = ""
    event: int | None = None
    position: int | None = None
    expected: str = ""
    actual: str = ""
    location: str = ""
    message: str = ""
    suggestion: str = ""


async def resolve_run_id(world: World, text: str) -> str:
    """The run id ``text`` names: the id itself, or the one run whose id starts with it.

    Raises WorkflowRunNotFoundError (no such run) or AmbiguousRunIdError (several match).
    """
    raise NotImplementedError


async def retry_run(world: World, run_id: str) -> None:
    """Try a blocked run again now: status ``running``, its work queued again.

    Raises WorkflowRunNotFoundError, or RunStateError when the run is not blocked.
    """
    raise NotImplementedError


async def fork_run(
    world: World,
    run_id: str,
    *,
    from_step: int | None = None,
    deployment_id: str | None = None,
    new_run_id: str | None = None,
) -> str:
    """Start a new run of ``run_id``'s workflow and input reusing its first steps' results.

    ``from_step`` N reuses the first N completed steps (in the order they completed); the
    default is every step completed before the first failed one. The new run records
    ``forked_from`` and runs the rest on the current code. Returns the new run's id.

    Raises WorkflowRunNotFoundError, or RunStateError when ``from_step`` is out of range
    (negative, or more steps than the run completed) or the run has nothing to fork from.
    """
    raise NotImplementedError


async def export_history(world: World, run_id: str) -> dict[str, Any]:
    """A run's history as a JSON-ready dict (format :data:`HISTORY_FORMAT`)."""
    raise NotImplementedError


def load_history(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """An exported history from a file path or a dict, checked (ValueError says what is off)."""
    raise NotImplementedError


def replay_history(history: dict[str, Any], project: Project) -> ReplayResult:
    """Replay one exported history against ``project``'s current code; writes nothing."""
    raise NotImplementedError


async def replay_runs(
    world: World,
    project: Project,
    *,
    run_id: str | None = None,
    workflow_id: str | None = None,
    statuses: tuple[str, ...] = ("running", "blocked"),
    limit: int | None = None,
) -> list[ReplayResult]:
    """Replay the selected runs' histories against ``project``; runs no step, writes nothing.

    By default every run that is ``running`` or ``blocked`` (``pending`` runs have no
    history to check).
    """
    raise NotImplementedError
