"""Build diagnostics: what the compiler reports instead of raising at the first problem.

Every problem the compiler finds becomes a :class:`Diagnostic` with a stable code, the
position (1-based line and column) and a fix-it sentence. Errors make a module's result
``ok == False``; warnings (near-miss directives) do not.

Codes (errors ``WDK0xx``, warnings ``WDK1xx``):

======  ================================================================================
WDK001  ``"use workflow"`` (its own or the module docstring's) on a sync ``def``
WDK002  ``"use workflow"`` on a nested function or a method
WDK003  ``"use step"`` on a method of a class without the serialization protocol
WDK004  a directive somewhere else it cannot go (a class defined inside a function)
WDK005  ``nonlocal`` in a step
WDK006  duplicate workflow or step ID in one module
WDK007  a module with directives does work at import time
WDK008  ``sleep`` / ``create_hook`` / ``create_webhook`` / ``patched`` called inside a step
WDK009  ``max_retries`` not a non-negative integer literal, or ``max_delay`` not a duration
WDK010  the source does not parse
WDK011  ``patched`` / ``deprecate_patch`` called with anything but one string literal
WDK101  a string that looks like a directive but is not spelt exactly like one
WDK102  the directive text written as an f-string, bytes, prefixed, parenthesised or
        implicitly concatenated string
WDK103  the directive text as a later statement of a function body
WDK104  an import a step's kept signature uses stays in the workflow bundle (was pruned)
======  ================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Diagnostic", "Severity"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in one file.

    ``str(diagnostic)`` is ``file:line:col: error[CODE]: message``, followed by an indented
    ``help:`` line when there is a fix-it sentence.
    """

    code: str
    """Stable code such as ``WDK001``."""
    message: str
    """What is wrong, in one sentence."""
    file: str
    """The file's path relative to the source root (``app/orders.py``)."""
    line: int
    """1-based line."""
    col: int
    """1-based column (in characters)."""
    severity: Severity = "error"
    """``"error"`` fails the build; ``"warning"`` does not."""
    fix: str = ""
    """How to fix it, in one sentence (may be empty)."""

    @property
    def is_error(self) -> bool:
        """Whether this diagnostic fails the build."""
        return self.severity == "error"

    def headline(self) -> str:
        """``file:line:col: severity[CODE]: message`` on one line."""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"

    def __str__(self) -> str:
        return self.headline() + (f"\n  help: {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the on-disk cache and ``--json`` consumers)."""
        return {
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostic:
        """The inverse of :meth:`to_dict`."""
        return cls(
            code=str(data["code"]),
            message=str(data["message"]),
            file=str(data["file"]),
            line=int(data["line"]),
            col=int(data["col"]),
            severity="warning" if data.get("severity") == "warning" else "error",
            fix=str(data.get("fix", "")),
        )
