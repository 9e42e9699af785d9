"""Raising :class:`wdk.SandboxError` at the user's file:line.

Guards run a frame or two below the workflow code that tripped them (library hooks and the
audit hook many frames below). The user's frames are recognised by filename: every file
compiled by :func:`compile_workflow_code` is recorded in :data:`USER_FILES`, and the nearest
frame from one of them gives the location. Whether workflow code is running at all is answered
by :func:`in_workflow_code`: the globals of every sandboxed module hold :data:`RUN_KEY`.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from wdk.errors import SandboxError

__all__ = ["RUN_KEY", "USER_FILES", "in_workflow_code", "refuse", "where"]

#: Filenames of workflow code compiled under the sandbox in this process.
USER_FILES: set[str] = set()

#: The globals key under which a sandbox module finds its run (not a valid identifier, so
#: workflow code cannot name it).
RUN_KEY = "wdk sandbox"


def where(depth: int = 2) -> str:
    """``file:line`` of the nearest workflow-code frame above the caller, or ``""``."""
    frame = sys._getframe(depth)
    while frame is not None:
        if frame.f_code.co_filename in USER_FILES:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def in_workflow_code(depth: int = 1) -> bool:
    """Whether a frame of sandboxed workflow code is on this thread's stack above the caller.

    Library code called from workflow code (pydantic building a schema, typing evaluating a
    forward reference) runs below such a frame; step code and the runtime's own work never do.
    """
    frame = sys._getframe(depth)
    key = RUN_KEY
    while frame is not None:
        if key in frame.f_globals:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def refuse(message: str) -> NoReturn:
    """Raise SandboxError with ``message`` prefixed by the user's file:line."""
    loc = where(2)
    raise SandboxError(f"{loc}: {message}" if loc else message)
