"""Raising :class:`wdk.SandboxError` at the user's file:line.

Guards run a frame or two below the workflow code that tripped them. The user's frames are
recognised by filename: every file compiled by :func:`compile_workflow_code` is recorded in
:data:`USER_FILES`, and the nearest frame from one of them gives the location.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from wdk.errors import SandboxError

__all__ = ["USER_FILES", "refuse", "where"]

#: Filenames of workflow code compiled under the sandbox in this process.
USER_FILES: set[str] = set()


def where(depth: int = 2) -> str:
    """``file:line`` of the nearest workflow-code frame above the caller, or ``""``."""
    frame = sys._getframe(depth)
    for _ in range(64):
        if frame is None:
            break
        if frame.f_code.co_filename in USER_FILES:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def refuse(message: str) -> NoReturn:
    """Raise SandboxError with ``message`` prefixed by the user's file:line."""
    loc = where(2)
    raise SandboxError(f"{loc}: {message}" if loc else message)
