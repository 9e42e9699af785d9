"""Flow control shared by every world: queue definitions, start options, and admission.

A run started on a queue is stored ``queued`` with no queue message. *Admission* moves the
best waiting runs of a queue to ``pending`` and enqueues their start message, as far as the
queue's limits allow; each world runs it atomically (SQLite: inside its single-writer
transaction; PostgreSQL: under a transaction-scoped advisory lock per queue; memory: under its
lock), so limits hold across every process on the world. What a world reads for admission is
the same everywhere, and :func:`plan_admission` decides from it:

* ``concurrency``: runs of the queue admitted and not finished (``pending``, ``running`` or
  ``blocked``). A slot comes back when the run ends, in the same transaction as its end. A
  killed worker's run keeps its slot while it is not finished: its lease lapses, another worker
  takes the run over, and its end frees the slot.
* ``per_key_concurrency``: the same count per ``key``.
* ``rate``: a sliding window: at most ``limit`` admissions in any ``period`` seconds, counted
  from the runs' ``admitted_at``.
* order: ``priority`` (higher first) when the queue allows priorities, then creation time, then
  run id (FIFO within a priority).

The start message is the run's ordinary wake-up message (``runtime._keys.wf_message``: kind
``workflow``, key ``wf:<run id>``), so an admitted run goes on exactly like an unqueued one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wdk.errors import QueueError
from wdk.worlds.base import NewMessage

__all__ = [
    "ACTIVE_STATUSES",
    "Admission",
    "FlowStart",
    "QueueSpec",
    "LIMIT_PREFIX",
    "candidate_limit",
    "format_rate",
    "limit_kind",
    "parse_limit_kind",
    "parse_rate",
    "plan_admission",
    "start_message",
    "waiting_order",
]

#: the statuses of a run that holds a slot of its queue
ACTIVE_STATUSES = ("pending", "running", "blocked")

_PERIODS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]*\.?[0-9]*)\s*([a-z]+)\s*$")
_RATE_FORMS = '"<count>/<period>": "10/s", "100/min", "5000/h", "20/10s" (s, m/min, h, d)'


def parse_rate(rate: str, *, queue: str = "") -> tuple[int, float]:
    """``"100/min"`` -> ``(100, 60.0)``; ``"20/10s"`` -> ``(20, 10.0)``.

    Raises:
        QueueError: not of the form ``<count>/<period>`` with a count >= 1.
    """
    m = _RATE.match(rate) if isinstance(rate, str) else None
    unit = _PERIODS.get(m.group(3)) if m else None
    if m is None or unit is None or int(m.group(1)) < 1:
        raise QueueError(f"invalid rate {rate!r}: expected {_RATE_FORMS}", queue=queue)
    scale = float(m.group(2)) if m.group(2) else 1.0
    if not math.isfinite(scale) or scale <= 0:
        raise QueueError(f"invalid rate {rate!r}: the period must be > 0", queue=queue)
    return int(m.group(1)), scale * unit


def format_rate(limit: int, period: float) -> str:
    """The inverse of :func:`parse_rate` (``(100, 60.0)`` -> ``"100/60s"``)."""
    return f"{limit}/{period:g}s"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue's limits as the world stores them (``None``: no such limit)."""

    name: str
    concurrency: int | None = None
    per_key_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None
    priority: bool = True


@dataclass(frozen=True, slots=True)
class FlowStart:
    """How a run starts on a queue (the start options, checked by the client).

    ``delay`` and ``debounce`` are seconds; the world adds its own clock's now.
    """

    queue: str
    key: str | None = None
    priority: int = 0
    dedupe_key: str | None = None
    debounce: float | None = None
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """What :func:`plan_admission` decided: runs to admit, and when to look again.

    ``due`` is the earliest time the rate window lets another run in while runs wait on it
    (None: no such time; a run ending, or a new run, is what changes things).
    """

    run_ids: list[str]
    due: float | None = None


#: the kind prefix of a step message with limits (``step.concurrency``, ``step.rate``)
LIMIT_PREFIX = "limit:"


def limit_kind(
    step_id: str, concurrency: int | None, rate_limit: int | None, rate_period: float | None
) -> str:
    """The queue-message kind of a call of a step with limits: the limits travel in it.

    ``limit:<concurrency>:<count>:<period>:<step id>`` (empty for no such limit), so a world
    needs no registry to enforce them: messages of one kind share one concurrency count and
    one rate window. A deploy that changes a step's limits makes a new kind.
    """

    def field(v: float | None) -> str:
        return "" if v is None else f"{v:g}"

    return f"{LIMIT_PREFIX}{field(concurrency)}:{field(rate_limit)}:{field(rate_period)}:{step_id}"


def parse_limit_kind(kind: str) -> QueueSpec:
    """The limits of a :func:`limit_kind` (as a QueueSpec named by the step id)."""
    concurrency, count, period, step_id = kind[len(LIMIT_PREFIX) :].split(":", 3)
    return QueueSpec(
        step_id,
        int(concurrency) if concurrency else None,
        None,
        int(count) if count else None,
        float(period) if period else None,
    )


def start_message(run_id: str) -> NewMessage:
    """The message an admitted run starts with: its wake-up message."""
    return NewMessage("workflow", run_id, f"wf:{run_id}")


def waiting_order(spec: QueueSpec) -> str:
    """The SQL ``ORDER BY`` columns of a queue's waiting runs, best first."""
    return "priority DESC, created_at, run_id" if spec.priority else "created_at, run_id"


def candidate_limit(spec: QueueSpec, active: int, window: list[float]) -> int | None:
    """How many waiting runs an admission can take at most; None: no bound to read them with.

    With a per-key limit a run may be passed over for its key, so any number may be read.
    """
    if spec.per_key_concurrency is not None:
        return None
    free = spec.concurrency - active if spec.concurrency is not None else None
    if spec.rate_limit is not None:
        tokens = spec.rate_limit - len(window)
        free = tokens if free is None else min(free, tokens)
    return None if free is None else max(free, 0)


def plan_admission(
    spec: QueueSpec,
    now: float,
    *,
    active: int,
    active_by_key: Mapping[str | None, int],
    window: list[float],
    candidates: Iterable[tuple[str, str | None]],
) -> Admission:
    """Choose the runs to admit now.

    Args:
        spec: the queue.
        now: the world's clock.
        active: runs of the queue holding a slot.
        active_by_key: the same, per key (only read with ``per_key_concurrency``).
        window: ``admitted_at`` of the queue's admissions within the last ``rate_period``,
            oldest first (only read with a rate).
        candidates: ``(run_id, key)`` of the waiting runs that may start now, best first.
    """
    free = math.inf if spec.concurrency is None else spec.concurrency - active
    rate_due: float | None = None
    if spec.rate_limit is not None and spec.rate_period is not None:
        free = min(free, spec.rate_limit - len(window))
    admitted: list[str] = []
    per_key = spec.per_key_concurrency
    taken: dict[str | None, int] = {}
    if free > 0:
        for run_id, key in candidates:
            if len(admitted) >= free:
                break
            if per_key is not None and key is not None:
                held = active_by_key.get(key, 0) + taken.get(key, 0)
                if held >= per_key:
                    continue
                taken[key] = taken.get(key, 0) + 1
            admitted.append(run_id)
    if spec.rate_limit is not None and spec.rate_period is not None:
        # After admitting, the window holds window + admitted; the next token frees when the
        # oldest admission that keeps the window full leaves it.
        times = window + [now] * len(admitted)
        if len(times) >= spec.rate_limit:
            rate_due = times[len(times) - spec.rate_limit] + spec.rate_period
    return Admission(admitted, rate_due)
