"""``decimal`` for workflow code: a context of the run's own, never the worker's.

``decimal.getcontext()`` returns the current thread's context object, which every run on the
worker thread (and step code on it) shares: ``getcontext().clear_traps()``,
``getcontext().traps.update(...)`` or ``operator.setitem(getcontext().traps, ...)`` would
change arithmetic for every later run, and the flags arithmetic sets would leak between runs.
The write guard cannot see method calls, so instead workflow code never gets the shared
object: the view's ``getcontext()`` installs, in the current ``contextvars`` context (each wdk
task runs in its own copy of the worker thread's), a fresh context with Python's default
settings the first time a task of the run asks, and returns it from then on;
``localcontext()`` starts from it. Each task therefore starts from the defaults, on every
worker and on replay.

The template contexts (``DefaultContext``, ``BasicContext``, ``ExtendedContext``) are module
level objects shared by the process (changing ``DefaultContext`` changes every new context) and
are refused in the view.

Arithmetic a task does before its first ``getcontext()``/``localcontext()`` uses the worker's
context as it is (docs/sandbox.md, known gaps).
"""

from __future__ import annotations

import asyncio
import decimal
from contextvars import ContextVar
from typing import Any

from wdk._context import current_or_none

__all__ = ["OVERRIDES", "REFUSED"]

_RUN_CONTEXT: ContextVar[tuple[Any, decimal.Context] | None] = ContextVar(
    "wdk_run_decimal_context", default=None
)


def _fresh() -> decimal.Context:
    # Spelled out rather than decimal.Context(): that copies DefaultContext, which the
    # application (or step code) may have changed.
    return decimal.Context(
        prec=28,
        rounding=decimal.ROUND_HALF_EVEN,
        Emin=-999999,
        Emax=999999,
        capitals=1,
        clamp=0,
        flags=[],
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


def _in_task() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no running loop: module-level code, not a wdk task
        return False


def getcontext() -> decimal.Context:
    """The task's decimal context (fresh defaults; not shared with other runs or steps).

    Outside a task (module-level code) there is no per-run ``contextvars`` context to install
    it in: a fresh context is returned without installing it, so nothing can leak.
    """
    if not _in_task():
        return _fresh()
    run = current_or_none()
    current = decimal.getcontext()
    owned = _RUN_CONTEXT.get()
    if owned is not None and owned[0] is run and owned[1] is current:
        return current
    ctx = _fresh()
    decimal.setcontext(ctx)
    _RUN_CONTEXT.set((run, ctx))
    return ctx


def localcontext(ctx: decimal.Context | None = None, **kwargs: Any) -> Any:
    """``decimal.localcontext`` starting from the run's context (see :func:`getcontext`)."""
    return decimal.localcontext(ctx if ctx is not None else getcontext(), **kwargs)


#: Replacements in the ``decimal`` view.
OVERRIDES: dict[str, Any] = {"getcontext": getcontext, "localcontext": localcontext}

_SHARED = (
    "is a context object shared by the whole worker process; build one with "
    "decimal.Context(prec=..., rounding=...) or use decimal.localcontext(prec=...)"
)

#: Names refused in the ``decimal`` view, with the reason.
REFUSED: dict[str, str] = {
    "DefaultContext": _SHARED,
    "BasicContext": _SHARED,
    "ExtendedContext": _SHARED,
}
