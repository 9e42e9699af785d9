"""``wdk.schedule``: a schedule's definition, its fire times, and the process's registry.

``schedule(...)`` runs at module level. Everything that can be wrong with it (a cron that
does not parse, a timezone that does not exist, a target that is not a workflow, arguments
that cannot be stored) raises :class:`~wdk.errors.ScheduleError` right there, naming the
caller's file:line, before anything is written anywhere: the world hears of a schedule only
when a worker's ticker registers it.

Fire times are computed, never stored as a plan, so every worker agrees on them without
talking: a cron expression is evaluated in its timezone by ``cronsim``; an interval fires at
the multiples of its length since the Unix epoch. A tick's run id is a function of the
schedule id and the fire time (:meth:`Schedule.run_id`), so two workers starting the same tick
start the same run, and the world's idempotent start keeps one.

Why cronsim: croniter, the usual choice, was declared abandoned by its author in 2024-25
(it lives on under pallets-eco, on a slower footing); cronsim is maintained (healthchecks.io
runs on it), has no dependencies, is typed, evaluates in a ``zoneinfo`` timezone with the DST
rules cron users expect, and takes an optional seconds field (6 fields, seconds first), which
APScheduler's trigger and python-crontab either lack or bring a scheduler along with.

Workflow code imports its module again for every run, in the sandbox; ``schedule(...)`` there
returns at once (no validation, no registration): the worker that imported the module
normally has it already.
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cronsim
import msgpack

from wdk import serde
from wdk._duration import parse_duration
from wdk.errors import DurationError, ScheduleError, SerializationError, WorkflowNotRegisteredError
from wdk.runtime._loader import workflow_id_of

__all__ = [
    "CATCHUPS",
    "CATCHUP_CAP",
    "ON_TIME_S",
    "OVERLAPS",
    "Schedule",
    "on_register",
    "registered",
    "schedule",
    "unregister_all",
]

OVERLAPS = ("skip", "allow", "buffer_one")
CATCHUPS = ("none", "latest", "all")
#: ``catchup="all"`` starts at most this many missed ticks (the latest ones) in one pass.
CATCHUP_CAP = 100
#: ``catchup="none"``: a single due tick found later than this is missed, not late.
ON_TIME_S = 60.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule: what to start (workflow and encoded arguments) and when.

    Made by :func:`schedule`; :meth:`spec` is what the world stores and :meth:`from_spec`
    reads it back (``wdk schedules`` works from the world alone).
    """

    schedule_id: str
    workflow_id: str
    args: bytes
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    overlap: str = "skip"
    catchup: str = "latest"
    #: where ``schedule(...)`` was called (``file:line``), for messages
    location: str = ""

    def spec(self) -> bytes:
        """The definition as the world stores it (msgpack; ``location`` is left out)."""
        fields = {
            "workflow_id": self.workflow_id,
            "args": self.args,
            "cron": self.cron,
            "every": self.every,
            "timezone": self.timezone,
            "overlap": self.overlap,
            "catchup": self.catchup,
        }
        return bytes(msgpack.packb(fields, use_bin_type=True))

    @classmethod
    def from_spec(cls, schedule_id: str, spec: bytes) -> Schedule:
        """The schedule a stored spec describes."""
        f = msgpack.unpackb(spec, raw=False)
        return cls(
            schedule_id,
            f["workflow_id"],
            f["args"],
            f.get("cron"),
            f.get("every"),
            f.get("timezone", "UTC"),
            f.get("overlap", "skip"),
            f.get("catchup", "latest"),
        )

    @property
    def when(self) -> str:
        """``cron 0 3 * * * (Europe/Berlin)`` or ``every 2s``: what ``wdk schedules`` shows."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        every = self.every or 0
        return f"every {int(every)}s" if every == int(every) else f"every {every}s"

    def fires(self, after: float, until: float, limit: int) -> list[float]:
        """Fire times ``t`` with ``after < t <= until``, ascending: the latest ``limit``."""
        if limit <= 0 or until <= after:
            return []
        if self.every is not None:
            period = self.every
            first = (math.floor(after / period) + 1) * period
            last = math.floor(until / period) * period
            if last < first:
                return []
            start = max(first, last - (limit - 1) * period)
            return [start + i * period for i in range(int(round((last - start) / period)) + 1)]
        # Cron fires on whole seconds; cronsim's reverse walk yields times strictly before
        # its start, so start one second past the last whole second that may fire.
        out: list[float] = []
        start_at = datetime.fromtimestamp(math.floor(until) + 1, ZoneInfo(self.timezone))
        for moment in cronsim.CronSim(self.cron or "", start_at, reverse=True):
            t = moment.timestamp()
            if t <= after or len(out) >= limit:
                break
            out.append(t)
        return out[::-1]

    def next_fire(self, after: float) -> float:
        """The first fire time strictly after ``after``."""
        if self.every is not None:
            return (math.floor(after / self.every) + 1) * self.every
        start_at = datetime.fromtimestamp(after, ZoneInfo(self.timezone))
        return next(iter(cronsim.CronSim(self.cron or "", start_at))).timestamp()

    def run_id(self, fire: float) -> str:
        """The run id of the tick at ``fire``: the same in every worker, so one run per tick."""
        moment = datetime.fromtimestamp(fire, UTC)
        text = moment.strftime("%Y%m%dT%H%M%S")
        if moment.microsecond:
            text += f".{moment.microsecond // 1000:03d}"
        return f"sched-{self.schedule_id}-{text}Z"


_lock = threading.Lock()
_registry: dict[str, Schedule] = {}
_listeners: list[Callable[[], None]] = []


def schedule(
    schedule_id: str,
    *,
    cron: str | None = None,
    every: Any = None,
    workflow: Any,
    args: Sequence[Any] = (),
    timezone: str = "UTC",
    overlap: str = "skip",
    catchup: str = "latest",
) -> Schedule | None:
    """Start ``workflow(*args)`` on a schedule, once per tick whatever the number of workers.

    Call it at module level. Every worker and server that imports the module (``wdk worker
    --import MODULE``) keeps the schedule; each tick starts exactly one run, whose id is
    ``sched-<id>-<fire time, UTC>``.

    Args:
        schedule_id: a name, unique in the world: letters, digits, ``_ . -``.
        cron: 5 fields (minute hour day month weekday) or 6 with seconds first, evaluated in
            ``timezone``.
        every: an interval instead of ``cron`` (``"2s"``, ``"15m"``, seconds, ``timedelta``),
            a whole number of seconds; ticks fall on its multiples since the Unix epoch.
        workflow: the workflow function (or its ID).
        args: the arguments of every run (stored, so serializable).
        timezone: an IANA name (``"Europe/Berlin"``) for ``cron``.
        overlap: when the previous run of the schedule is still going: ``"skip"`` the tick,
            ``"buffer_one"`` start one run when it ends, ``"allow"`` start anyway.
        catchup: ticks missed while no worker ran: ``"none"`` skips them, ``"latest"``
            starts one run for the most recent, ``"all"`` one per missed tick (the latest
            100 at most).

    Returns:
        The schedule; None in workflow code (the sandbox imports the module again for each
        run, and the schedule is the worker's business, not the run's).

    Raises:
        ScheduleError: anything invalid, with the file:line of this call; nothing is kept.
    """
    caller = sys._getframe(1)
    if "__wdk_step__" in caller.f_globals:  # a workflow bundle, imported in the sandbox
        return None
    where = f"{_short(caller.f_code.co_filename)}:{caller.f_lineno}"
    made = _build(schedule_id, cron, every, workflow, args, timezone, overlap, catchup, where)
    with _lock:
        old = _registry.get(made.schedule_id)
        if old is not None and old.location != made.location and old.spec() != made.spec():
            raise ScheduleError(
                f"schedule {made.schedule_id!r} at {where} is already defined at "
                f"{old.location}: give each schedule its own id",
                schedule_id=made.schedule_id,
            )
        _registry[made.schedule_id] = made
        listeners = list(_listeners)
    for listener in listeners:
        listener()
    return made


def _build(
    schedule_id: Any,
    cron: Any,
    every: Any,
    workflow: Any,
    args: Any,
    timezone: Any,
    overlap: Any,
    catchup: Any,
    where: str,
) -> Schedule:
    sid = schedule_id if isinstance(schedule_id, str) else repr(schedule_id)

    def bad(what: str) -> ScheduleError:
        return ScheduleError(f"schedule {sid!r} at {where}: {what}", schedule_id=sid)

    if not isinstance(schedule_id, str) or not _ID.match(schedule_id):
        raise bad("the id must be 1-100 letters, digits, '_', '.' or '-', starting alnum")
    if (cron is None) == (every is None):
        raise bad("give exactly one of cron='...' or every='...'")
    if overlap not in OVERLAPS:
        raise bad(f"overlap={overlap!r} is not one of {', '.join(OVERLAPS)}")
    if catchup not in CATCHUPS:
        raise bad(f"catchup={catchup!r} is not one of {', '.join(CATCHUPS)}")
    if not isinstance(timezone, str):
        raise bad(f"timezone must be an IANA name such as 'Europe/Berlin', not {timezone!r}")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad(
            f"timezone {timezone!r} does not exist: use an IANA name such as 'Europe/Berlin'"
            " or 'UTC'"
        ) from None
    period: float | None = None
    if every is not None:
        try:
            period = parse_duration(every)
        except DurationError as exc:
            raise bad(f"every={every!r}: {exc}") from None
        if period < 1 or period != int(period):
            raise bad(f"every={every!r} must be a whole number of seconds, at least 1s")
    if cron is not None:
        if not isinstance(cron, str):
            raise bad(f"cron must be a string such as '0 3 * * *', not {cron!r}")
        fields = len(cron.split())
        if fields not in (5, 6):
            raise bad(
                f"cron {cron!r} has {fields} fields: use 5 (minute hour day month weekday) or "
                "6 with seconds first (second minute hour day month weekday)"
            )
        try:
            next(iter(cronsim.CronSim(cron, datetime.now(zone))))
        except (cronsim.CronSimError, StopIteration) as exc:
            raise bad(f"cron {cron!r} is not valid: {exc or 'it never fires'}") from None
    try:
        workflow_id = workflow_id_of(workflow)
    except WorkflowNotRegisteredError as exc:
        raise bad(f"workflow= {exc}") from None
    except ValueError as exc:
        raise bad(f"workflow={workflow!r} is not a workflow ID: {exc}") from None
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise bad(f"args must be a list or tuple of arguments, not {type(args).__name__}")
    try:
        encoded = serde.encode(tuple(args), path="args")
    except SerializationError as exc:
        raise bad(f"its arguments cannot be stored: {exc}") from None
    return Schedule(
        schedule_id, workflow_id, encoded, cron, period, timezone, overlap, catchup, where
    )


def _short(filename: str) -> str:
    """``filename`` relative to the current directory when it is under it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def registered() -> list[Schedule]:
    """The schedules defined in this process so far, by id."""
    with _lock:
        return [_registry[k] for k in sorted(_registry)]


def on_register(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener()`` (from any thread) after each ``schedule(...)``; returns an undo."""
    with _lock:
        _listeners.append(listener)

    def undo() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return undo


def unregister_all() -> None:
    """Forget every schedule of this process (tests)."""
    with _lock:
        _registry.clear()
