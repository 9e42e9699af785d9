"""The activation budget: workflow code that runs too long without a durable call is stopped.

Like Temporal's deadlock detector: an *activation* (the runtime applying one event and running
the workflow's tasks until every one waits on a durable call) that goes on longer than its
budget fails the run with :class:`wdk.BudgetExceededError` naming the user's file:line.

How, and why this way: the policy (``_policy.py``) puts a check at the top of every loop body,
every comprehension clause and every function body of workflow code::

    _wdk_limit_.ok or _wdk_limit_.stop()

``_wdk_limit_`` is the run's :class:`Limiter` (a name workflow code cannot spell: guard-shaped
names are refused). The check is a global load, a slot read and a jump: about 10 ns, where a
call to a Python function per iteration (a counter, or reading the clock) cost 40-80 ns and
pushed the CPU-bound benchmark past 2x plain Python. Time is kept by one daemon thread, the
watchdog, which wakes every :data:`WATCH_INTERVAL_S` and turns ``ok`` off on limiters armed
longer than their budget; the GIL switch interval (5 ms) guarantees it gets to run while
workflow code spins. ``stop()`` then raises at the next check, in user code, so the location
is the user's line and no wdk frame is left half-done (unlike an asynchronous exception).

Once tripped a limiter stays tripped: every later check raises again, so ``except Exception``
around a spin cannot keep it alive, and the runtime fails the run with the first error even if
the code caught it (where the code was stopped depends on time, so nothing after it may become
part of the run's history).

**The event loop's slice.** A worker runs activations on its event loop (no thread hop on the
hot path). So that one spinning run does not stall every other run for a whole budget, a
limiter may carry a *slice* for one thread (the worker's loop): when an activation on that
thread runs past ``slice_s``, the check raises :class:`SliceExpired`, a control signal
(``BaseException``, sticky like the budget) that unwinds the activation; the worker throws the
instance away and replays the run in a thread, where only the budget applies (the code is
deterministic, so the replay reaches the same point). Activations in other threads are not
sliced.

Not covered: a single call into C that runs long (``sum(itertools.repeat(1, 10**12))``): no
bytecode of workflow code runs during it, so no check does. See docs/sandbox.md, "Limits".
"""

from __future__ import annotations

import os
import threading
import time

from wdk.errors import BudgetExceededError
from wdk.sandbox._errors import where

__all__ = ["LIMIT_NAME", "WATCH_INTERVAL_S", "Limiter", "SliceExpired"]

#: The global name the policy's checks read (guard-shaped: workflow code cannot name it).
LIMIT_NAME = "_wdk_limit_"

#: How often the watchdog looks at armed limiters: a spin is stopped at most this late.
WATCH_INTERVAL_S = 0.02

_HOW = (
    "Workflow code must not spin or compute for long between durable calls: move long "
    "computation into a 'use step' function, or raise the budget (Worker(workflow_budget_s="
    "...), [tool.wdk] workflow-budget, WDK_WORKFLOW_BUDGET)."
)


class SliceExpired(BaseException):  # noqa: N818 - a control signal, not an error
    """An activation ran past its slice of the event loop: redo it in a thread (see above)."""


class Limiter:
    """The budget of one run's activations; the runtime arms it around each one.

    Unarmed (the default, and when the budget is 0) ``ok`` stays true and checks cost only
    their read.
    """

    __slots__ = (
        "budget_s", "deadline", "ok", "sliced", "slice_s", "slice_thread",
        "started", "tripped", "hard_deadline",
    )  # fmt: skip

    def __init__(
        self, budget_s: float = 0.0, *, slice_s: float = 0.0, slice_thread: int | None = None
    ) -> None:
        self.ok = True
        """False once the watchdog saw the deadline pass (the checks then call :meth:`stop`)."""
        self.budget_s = budget_s
        """Seconds an activation may run; 0 or less: no budget."""
        self.slice_s = slice_s
        """Seconds an activation on ``slice_thread`` may run before :class:`SliceExpired`."""
        self.slice_thread = slice_thread
        self.sliced = False
        self.started = 0.0
        self.deadline = 0.0  # what the watchdog compares: the slice's end or the budget's
        self.hard_deadline = 0.0  # the budget's end
        self.tripped: BudgetExceededError | None = None
        """The first error raised by :meth:`stop` (the run fails with it)."""

    def arm(self) -> None:
        """Start an activation: its budget runs from now."""
        if self.budget_s <= 0 or self.tripped is not None:
            return
        self.started = time.monotonic()
        self.hard_deadline = self.started + self.budget_s
        self.sliced = self.slice_s > 0 and threading.get_ident() == self.slice_thread
        self.deadline = (
            min(self.hard_deadline, self.started + self.slice_s)
            if self.sliced
            else self.hard_deadline
        )
        self.ok = True
        _watch(self)

    def disarm(self) -> None:
        """End an activation (every task waits on a durable call, or the run ended)."""
        _active.discard(self)
        self.deadline = self.hard_deadline = 0.0  # stop() then sees a stale flag as such
        if self.tripped is None:
            self.ok = True  # the watchdog may have looked just as the activation ended

    def stop(self) -> bool:
        """Called by a check when ``ok`` is off: raise BudgetExceededError at the user's line.

        Raises :class:`SliceExpired` instead when only the slice is over. Returns True (the
        check goes on) when the flag was stale: the watchdog read an older deadline of this
        limiter, re-armed since.
        """
        now = time.monotonic()
        if self.tripped is None and (self.deadline <= 0 or now < self.deadline):
            self.ok = True
            return True
        if self.tripped is None and self.sliced and now < self.hard_deadline:
            raise SliceExpired()
        loc = where(2)
        budget = f"{self.budget_s:g} s"
        err = BudgetExceededError(
            f"{loc}: workflow code ran {now - self.started:.1f} s without reaching a durable "
            f"call (await of a step, sleep or hook), over its budget of {budget}, and was "
            f"stopped here. {_HOW}"
        )
        if self.tripped is None:
            self.tripped = err
        self.ok = False
        raise err


# -- the watchdog ---------------------------------------------------------------------------
_active: set[Limiter] = set()
_running = False  # whether this process has its watchdog thread (threads do not fork)
_start_lock = threading.Lock()


def _watch(limiter: Limiter) -> None:
    _active.add(limiter)
    if not _running:
        _start_watchdog()


def _start_watchdog() -> None:
    global _running
    with _start_lock:
        if not _running:
            threading.Thread(target=_watchdog, name="wdk-budget-watchdog", daemon=True).start()
            _running = True


def _forked() -> None:
    global _running
    _running = False
    _active.clear()


os.register_at_fork(after_in_child=_forked)


def _watchdog() -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if not _active:
            continue
        now = time.monotonic()
        for limiter in list(_active):  # one C call under the GIL: a consistent copy
            if now >= limiter.deadline:
                limiter.ok = False
