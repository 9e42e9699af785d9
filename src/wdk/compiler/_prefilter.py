"""A quick test for "this text has no directive at all", without parsing or the compiler."""

from __future__ import annotations

import re

__all__ = ["maybe_has_directives"]

_MAYBE = re.compile(r"[uU][sS][eE]\s+(?:[sS][tT][eE][pP]|[wW][oO][rR][kK][fF][lL][oO][wW])")


def maybe_has_directives(source: str) -> bool:
    """False when ``source`` certainly has no directive (nothing to compile)."""
    return _MAYBE.search(source) is not None
