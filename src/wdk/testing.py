"""Test helpers: keep production histories as regression tests.

Export a run with ``wdk export RUN_ID -o tests/histories/checkout.json``, then in a test::

    from wdk.testing import assert_replays

    def test_checkout_history_still_replays():
        assert_replays("tests/histories/checkout.json", root="src")

A change to the workflow that would block that run in production fails the test, naming the
run, the event and the ``file:line`` of the call that changed. Nothing runs a step, sleeps or
writes anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wdk.errors import ReplayDivergenceError
from wdk.runtime._deploys import ReplayResult, load_history, replay_history
from wdk.runtime._loader import Project

__all__ = ["assert_replays", "replay"]


def replay(
    history: str | os.PathLike[str] | dict[str, Any],
    *,
    root: str | os.PathLike[str] | None = None,
) -> ReplayResult:
    """Replay one exported history against the code under ``root`` (the current directory).

    Returns the :class:`~wdk.runtime._deploys.ReplayResult` (``ok``, and where it diverged).
    A file that is not an exported history raises ValueError saying what is off.
    """
    source: Any = history if isinstance(history, dict) else Path(history)
    loaded = load_history(source)
    return replay_history(loaded, Project([root] if root is not None else None))


def assert_replays(
    *histories: str | os.PathLike[str] | dict[str, Any],
    root: str | os.PathLike[str] | None = None,
) -> None:
    """Raise ReplayDivergenceError unless every history replays on the code under ``root``."""
    failures = [r for r in (replay(h, root=root) for h in histories) if not r.ok]
    if failures:
        lines = [
            f"run {r.run_id} ({r.workflow_id}) at event #{r.event}"
            + (f", {r.location}" if r.location else "")
            + f": {r.message}"
            for r in failures
        ]
        first = failures[0]
        raise ReplayDivergenceError(
            f"{len(failures)} of {len(histories)} histories no longer replay:\n" + "\n".join(lines),
            position=first.position if first.position is not None else -1,
            expected=first.expected,
            actual=first.actual,
        )
