"""``Queue``: flow-control queues declared in code, and the process's registry of them.

A queue is declared at module level in a workflow module (the compiler allows calls to
anything imported from ``wdk`` there)::

    from wdk import Queue

    reports = Queue("reports", concurrency=2)
    emails = Queue("emails", rate="100/min", per_key_concurrency=1)

Declaring one checks it at once, raising :class:`~wdk.QueueError` with the declaration's
``file:line``, and records it in this process's registry. The definition reaches the world,
where every process reads it, when a run is started on it from a process that knows it
(``wdk.api.start`` registers it in the same breath) and when a worker loads the module: the
world holds the limits that admission enforces, so a server that never imported the module can
still start runs on the queue by name.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

from wdk.errors import QueueError
from wdk.worlds._flow import QueueSpec, format_rate, limit_kind, parse_rate

__all__ = ["Queue", "declared", "local_queue", "step_limit"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")
_REGISTRY: dict[str, QueueSpec] = {}
_LOCK = threading.Lock()


def _where(depth: int) -> str:
    """``file:line`` of the frame ``depth`` levels above the caller (best effort)."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _limit(value: object, field: str, name: str, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise QueueError(
            f"{where}: Queue({name!r}) {field}={value!r}: expected an integer >= 1 or None"
            " (no limit)",
            queue=name,
        )
    return value


class Queue:
    """A flow-control queue: fleet-wide limits for the runs started on it.

    Args:
        name: how starts name it (``start(wf, args, queue=name)``).
        concurrency: at most this many of its runs unfinished at once (admitted and not
            completed, failed or cancelled), across every worker on the world.
        per_key_concurrency: the same limit per start ``key`` (one run per customer: 1).
        rate: at most this many runs started per period: ``"10/s"``, ``"100/min"``,
            ``"5000/h"``, ``"20/10s"`` (a sliding window over admissions).
        priority: whether starts may give a ``priority`` (higher runs first); False makes
            the queue strictly first in, first out.

    Raises:
        QueueError: a bad name, limit or rate; the message names the declaration's
            ``file:line``.
    """

    __slots__ = ("spec",)

    def __init__(
        self,
        name: str,
        *,
        concurrency: int | None = None,
        per_key_concurrency: int | None = None,
        rate: str | None = None,
        priority: bool = True,
    ) -> None:
        where = _where(1)
        if not isinstance(name, str) or not _NAME.match(name):
            raise QueueError(
                f"{where}: Queue name {name!r} must be 1-200 characters of letters, digits"
                " and _ . : / - (not starting with a symbol)"
            )
        rate_limit = rate_period = None
        if rate is not None:
            try:
                rate_limit, rate_period = parse_rate(rate, queue=name)
            except QueueError as exc:
                raise QueueError(f"{where}: Queue({name!r}) {exc}", queue=name) from None
        self.spec = QueueSpec(
            name,
            _limit(concurrency, "concurrency", name, where),
            _limit(per_key_concurrency, "per_key_concurrency", name, where),
            rate_limit,
            rate_period,
            bool(priority),
        )
        with _LOCK:
            _REGISTRY[name] = self.spec

    @property
    def name(self) -> str:
        """The queue's name."""
        return self.spec.name

    def __repr__(self) -> str:
        s = self.spec
        parts = [repr(s.name)]
        if s.concurrency is not None:
            parts.append(f"concurrency={s.concurrency}")
        if s.per_key_concurrency is not None:
            parts.append(f"per_key_concurrency={s.per_key_concurrency}")
        if s.rate_limit is not None and s.rate_period is not None:
            parts.append(f"rate={format_rate(s.rate_limit, s.rate_period)!r}")
        if not s.priority:
            parts.append("priority=False")
        return f"Queue({', '.join(parts)})"


def local_queue(name: str) -> QueueSpec | None:
    """The definition of ``name`` declared in this process, or None."""
    with _LOCK:
        return _REGISTRY.get(name)


def declared() -> list[QueueSpec]:
    """Every queue declared in this process, by name."""
    with _LOCK:
        return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def step_limit(step: Any) -> str | None:
    """The message kind of a call of ``step`` when it has limits (``concurrency``, ``rate``).

    Raises QueueError for a limit set to something else than the compiler allows.
    """
    concurrency = getattr(step, "concurrency", None)
    rate = getattr(step, "rate", None)
    if concurrency is None and rate is None:
        return None
    if concurrency is not None and (type(concurrency) is not int or concurrency < 1):
        raise QueueError(f"{step.step_id}: concurrency={concurrency!r}: expected an integer >= 1")
    count, period = parse_rate(rate, queue=step.step_id) if rate is not None else (None, None)
    return limit_kind(step.step_id, concurrency, count, period)
