"""A fixed ``PYTHONHASHSEED`` for workers.

``hash()`` of ``str``/``bytes`` is salted per process, so the iteration order of a
``set[str]`` differs between two processes unless both fix the seed. Workflow code that
iterates a set of strings (``for tag in {"a", "b"}``) would then make its calls in a different
order on replay and diverge. The sandbox keeps ``hash``/``id`` out of the builtins, but set
order cannot be shimmed; the worker fixes the seed instead, re-executing itself once at start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["FIXED_HASH_SEED", "ensure_hash_seed", "hash_seed_ok"]

#: The seed workers run with.
FIXED_HASH_SEED = "0"


def hash_seed_ok(environ: dict[str, str] | None = None) -> bool:
    """Whether this process runs (or ``environ`` would run) with a fixed hash seed.

    ``PYTHONHASHSEED`` must be a decimal integer; ``random`` or unset means salted hashes.
    When ``environ`` is None the answer comes from the running interpreter's flags, which is
    what counts (the variable is read only at interpreter start).
    """
    if environ is None:
        return sys.flags.hash_randomization == 0 or _fixed(os.environ.get("PYTHONHASHSEED"))
    return _fixed(environ.get("PYTHONHASHSEED"))


def _fixed(value: str | None) -> bool:
    return value is not None and value.strip().isdigit()


def ensure_hash_seed(argv: Sequence[str]) -> None:
    """Re-exec this process with ``PYTHONHASHSEED=0`` unless its hash seed is already fixed.

    Call it first thing in a worker's entry point with ``sys.argv``. Returns only when the seed
    is fixed; otherwise replaces the process (``os.execv``) with the same interpreter and the
    same command line (``sys.orig_argv``, so ``python -m wdk.cli ...`` and the ``wdk`` script
    both come back as they were started; ``argv`` is used when that is unknown). A seed fixed
    to another number is left alone: every worker of a deployment must then use that value.
    """
    if hash_seed_ok():
        return
    os.environ["PYTHONHASHSEED"] = FIXED_HASH_SEED
    orig = list(getattr(sys, "orig_argv", []) or [])
    args = [sys.executable, *orig[1:]] if orig else [sys.executable, *argv]
    os.execv(sys.executable, args)
