"""Why a run cannot go on with the code at hand: divergences and missing code.

A run whose code no longer matches its log is not failed: it is *blocked* (parked, its log
intact) until other code (a rollback, a fix) tries it again. This module holds what a block
says (:class:`Block`) and how the user's ``file:line`` is found for it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wdk.errors import REPLAY_DIVERGENCE, ReplayDivergenceError

__all__ = ["SUGGESTION", "Block", "coroutine_location", "describe", "user_location"]

_WDK_DIR = str(Path(__file__).resolve().parent.parent)


@dataclass(frozen=True, slots=True)
class Block:
    """Why the run cannot go on with this code: a divergence, or code that is missing.

    Not an outcome: the run is parked (status ``blocked``) and tried again on other code.
    ``event`` is the log seq where replay diverged (None when the workflow is missing),
    ``location`` the user's ``file:line``.
    """

    code: str
    message: str
    event: int | None = None
    position: int | None = None
    expected: str = ""
    actual: str = ""
    location: str = ""
    suggestion: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fields, for the ``run_blocked`` event and reports."""
        return {
            "code": self.code,
            "message": self.message,
            "event": self.event,
            "position": self.position,
            "expected": self.expected,
            "actual": self.actual,
            "location": self.location,
            "suggestion": self.suggestion,
        }


SUGGESTION = (
    'wrap the change in `if wdk.patched("<name>"): <new code> else: <old code>` so runs '
    "started before it keep the old path; or roll the code back; or `wdk fork` the run onto "
    "the new code"
)


class _Divergence(BaseException):  # noqa: N818 - control signal carrying the user-facing error
    def __init__(self, position: int, expected: str, actual: str, where: str = "") -> None:
        at = f" ({where})" if where else ""
        self.position, self.expected, self.actual, self.where = position, expected, actual, where
        self.error = ReplayDivergenceError(
            f"replay divergence at durable call #{position}: the event log recorded "
            f"{expected}, but the workflow code now makes {actual}{at}. The workflow's code "
            "changed while this run was in flight.",
            position=position,
            expected=expected,
            actual=actual,
        )
        super().__init__(str(self.error))

    def block(self, seq: int | None) -> Block:
        """The run's block for this divergence, found at log event ``seq``."""
        at = f"event #{seq}, " if seq is not None else ""
        return Block(
            REPLAY_DIVERGENCE,
            f"{at}{self.error.message} To fix: {SUGGESTION}.",
            event=seq,
            position=self.position,
            expected=self.expected,
            actual=self.actual,
            location=self.where,
            suggestion=SUGGESTION,
        )


def _is_user_frame(filename: str) -> bool:
    return not filename.startswith(_WDK_DIR) and not filename.startswith("<")


def user_location() -> str:
    """``file:line`` of the innermost user frame calling into wdk now ("" if none)."""
    frame = sys._getframe(1)
    while frame is not None:
        if _is_user_frame(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def coroutine_location(coro: Any) -> str:
    """``file:line`` of the innermost user frame of a suspended coroutine chain."""
    found = ""
    depth = 0
    while coro is not None and depth < 100:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None and _is_user_frame(frame.f_code.co_filename):
            found = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
        depth += 1
    return found


def describe(kind: str, logged: Any) -> str:
    """How a durable call reads in a divergence message."""
    if not isinstance(logged, dict):
        return kind
    if kind == "step":
        return f"a call to step {logged.get('step')}"
    if kind == "sleep":
        return "a sleep"
    if kind == "hook":
        return f"a hook (token {logged.get('token')!r})"
    return kind
