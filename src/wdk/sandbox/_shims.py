"""Deterministic stand-ins for ``time``, ``datetime``, ``random`` and ``uuid``.

Each reads the running workflow's context (``wdk._context.current``) on every call:
the clock is the workflow clock (the run's start, advanced to each replayed event's time), the
randomness is the run's ``random.Random`` seeded from the run id. Replaying a run therefore
sees exactly the values the first execution saw, on any worker, any day.

Decisions:

* The workflow's local time zone is UTC. ``datetime.now()``, ``datetime.today()``,
  ``time.localtime()`` and naive ``fromtimestamp`` give UTC wall time, because the worker's
  ``TZ`` differs between machines. ``datetime.now(tz)`` works as usual.
* ``datetime.datetime`` and ``datetime.date`` here are subclasses of the real classes whose
  constructors and class methods return *real* ``datetime``/``date`` objects, and whose
  ``isinstance`` accepts real ones. So ``type(datetime.now()) is real datetime``, values
  serialize like any other datetime, and ``isinstance(x, datetime.datetime)`` is true for
  datetimes coming from steps. (A subclass that returned its own instances would break
  ``msgpack``'s strict type checks and equality with step results' types.)
* ``time.sleep`` raises: a workflow waits with ``await wdk.sleep(...)`` (durable).
* ``random.Random()`` without a seed is seeded from the run's random (deterministic);
  ``random.SystemRandom``, ``random.seed()`` without an argument and ``uuid.uuid1`` (host MAC
  and clock) are refused.
"""

from __future__ import annotations

import datetime as _dt
import random as _random
import time as _time
import types
import uuid as _uuid
from typing import Any, NoReturn

from wdk._context import current
from wdk.sandbox._errors import refuse

__all__ = ["SHIMS"]


def _mark(mod: types.ModuleType, missing_hint: str) -> types.ModuleType:
    mod.__wdk_view__ = True  # type: ignore[attr-defined]
    name = mod.__name__

    def __getattr__(attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        refuse(f"{name}.{attr} is not available in workflow code: {missing_hint}")

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    return mod


# -- time ----------------------------------------------------------------------------------
def _now(what: str) -> float:
    return current(what).now()


def _time_time() -> float:
    """The workflow clock in epoch seconds (deterministic)."""
    return _now("time.time()")


def _time_ns() -> int:
    """The workflow clock in epoch nanoseconds."""
    return round(_now("time.time_ns()") * 1_000_000) * 1000


def _monotonic() -> float:
    """The workflow clock (it never goes backwards)."""
    return _now("time.monotonic()")


def _monotonic_ns() -> int:
    """The workflow clock in nanoseconds."""
    return round(_now("time.monotonic_ns()") * 1_000_000) * 1000


def _sleep(_seconds: float = 0) -> NoReturn:
    refuse(
        "time.sleep() is not allowed in workflow code: it would block the worker and is lost on "
        "restart. Use `await wdk.sleep(...)` (a durable timer) instead."
    )


def _gmtime(secs: float | None = None) -> _time.struct_time:
    """``time.gmtime`` defaulting to the workflow clock."""
    return _time.gmtime(_now("time.gmtime()") if secs is None else secs)


def _strftime(fmt: str, t: Any = None) -> str:
    """``time.strftime`` defaulting to the workflow clock (UTC)."""
    return _time.strftime(fmt, _gmtime() if t is None else t)


def _asctime(t: Any = None) -> str:
    """``time.asctime`` defaulting to the workflow clock (UTC)."""
    return _time.asctime(_gmtime() if t is None else t)


def _ctime(secs: float | None = None) -> str:
    """``time.ctime`` in UTC, defaulting to the workflow clock."""
    return _time.asctime(_gmtime(secs))


def _build_time() -> types.ModuleType:
    mod = types.ModuleType("time", "Deterministic time for workflow code (the workflow clock).")
    ns = mod.__dict__
    ns.update(
        time=_time_time,
        time_ns=_time_ns,
        monotonic=_monotonic,
        monotonic_ns=_monotonic_ns,
        perf_counter=_monotonic,
        perf_counter_ns=_monotonic_ns,
        sleep=_sleep,
        gmtime=_gmtime,
        localtime=_gmtime,
        strftime=_strftime,
        asctime=_asctime,
        ctime=_ctime,
        mktime=lambda t: float(_time.mktime(t) - _time.timezone),
        strptime=_time.strptime,
        struct_time=_time.struct_time,
        timezone=0,
        altzone=0,
        daylight=0,
        tzname=("UTC", "UTC"),
    )
    return _mark(mod, "the workflow clock offers time(), time_ns(), monotonic(), gmtime(), ...")


# -- datetime ------------------------------------------------------------------------------
class _RealInstances(type):
    """Metaclass: instances of the real class count as instances of the shim class."""

    _real: type

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._real)


def _utc_naive(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).replace(tzinfo=None)


class _Datetime(_dt.datetime, metaclass=_RealInstances):
    """``datetime.datetime`` of workflow code: real instances, workflow clock for "now"."""

    _real = _dt.datetime

    def __new__(cls, *args: Any, **kwargs: Any) -> _dt.datetime:  # type: ignore[misc]
        return _dt.datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        """The workflow clock (UTC wall time when ``tz`` is None)."""
        ts = _now("datetime.now()")
        return _utc_naive(ts) if tz is None else _dt.datetime.fromtimestamp(ts, tz)

    @classmethod
    def utcnow(cls) -> _dt.datetime:  # type: ignore[override]
        """The workflow clock as naive UTC."""
        return _utc_naive(_now("datetime.utcnow()"))

    @classmethod
    def today(cls) -> _dt.datetime:  # type: ignore[override]
        """The workflow clock as naive UTC."""
        return _utc_naive(_now("datetime.today()"))

    @classmethod
    def fromtimestamp(cls, t: float, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        """``datetime.fromtimestamp``; naive results are UTC (the workflow's local zone)."""
        return _utc_naive(t) if tz is None else _dt.datetime.fromtimestamp(t, tz)

    @classmethod
    def fromisoformat(cls, s: str) -> _dt.datetime:  # type: ignore[override]
        """``datetime.fromisoformat`` returning a real datetime."""
        return _dt.datetime.fromisoformat(s)

    @classmethod
    def strptime(cls, s: str, fmt: str) -> _dt.datetime:  # type: ignore[override]
        """``datetime.strptime`` returning a real datetime."""
        return _dt.datetime.strptime(s, fmt)

    @classmethod
    def combine(  # type: ignore[override]
        cls, date: _dt.date, time: _dt.time, tzinfo: Any = True
    ) -> _dt.datetime:
        """``datetime.combine`` returning a real datetime."""
        if tzinfo is True:
            return _dt.datetime.combine(date, time)
        return _dt.datetime.combine(date, time, tzinfo)


class _Date(_dt.date, metaclass=_RealInstances):
    """``datetime.date`` of workflow code: real instances, ``today()`` from the workflow clock."""

    _real = _dt.date

    def __new__(cls, *args: Any, **kwargs: Any) -> _dt.date:  # type: ignore[misc]
        return _dt.date(*args, **kwargs)

    @classmethod
    def today(cls) -> _dt.date:  # type: ignore[override]
        """Today by the workflow clock (UTC)."""
        return _utc_naive(_now("date.today()")).date()

    @classmethod
    def fromtimestamp(cls, t: float) -> _dt.date:  # type: ignore[override]
        """``date.fromtimestamp`` in UTC."""
        return _utc_naive(t).date()

    @classmethod
    def fromisoformat(cls, s: str) -> _dt.date:  # type: ignore[override]
        """``date.fromisoformat`` returning a real date."""
        return _dt.date.fromisoformat(s)


for _cls, _name in ((_Datetime, "datetime"), (_Date, "date")):
    _cls.__name__ = _cls.__qualname__ = _name
    _cls.__module__ = "datetime"


def _build_datetime() -> types.ModuleType:
    mod = types.ModuleType("datetime", "Deterministic datetime for workflow code.")
    mod.__dict__.update(
        datetime=_Datetime,
        date=_Date,
        time=_dt.time,
        timedelta=_dt.timedelta,
        timezone=_dt.timezone,
        tzinfo=_dt.tzinfo,
        UTC=_dt.UTC,
        MINYEAR=_dt.MINYEAR,
        MAXYEAR=_dt.MAXYEAR,
    )
    return _mark(mod, "use datetime, date, time, timedelta, timezone or UTC.")


# -- random --------------------------------------------------------------------------------
_RANDOM_FUNCTIONS = (
    "betavariate", "choice", "choices", "expovariate", "gammavariate", "gauss",
    "getrandbits", "lognormvariate", "normalvariate", "paretovariate", "randbytes",
    "randint", "random", "randrange", "sample", "shuffle", "triangular", "uniform",
    "vonmisesvariate", "weibullvariate",
)  # fmt: skip


def _run_random_method(name: str) -> Any:
    what = f"random.{name}()"

    def method(*args: Any, **kwargs: Any) -> Any:
        return getattr(current(what).random, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``random.{name}`` drawing from the run's seeded generator."
    return method


class _Random(_random.Random):
    """``random.Random``: an explicit seed as usual; no seed draws one from the run's random."""

    def __init__(self, x: Any = None) -> None:
        if x is None:
            x = current("random.Random()").random.getrandbits(64)
        super().__init__(x)

    def seed(self, a: Any = None, version: int = 2) -> None:
        """Seed it; ``seed()`` without a value would read the OS entropy and is refused."""
        if a is None:
            refuse("random.Random.seed() needs an explicit seed in workflow code.")
        super().seed(a, version)


_Random.__name__ = _Random.__qualname__ = "Random"
_Random.__module__ = "random"


def _random_seed(a: Any = None, version: int = 2) -> None:
    if a is None:
        refuse(
            "random.seed() without a value reads OS entropy: it is not allowed in workflow code."
        )
    current("random.seed()").random.seed(a, version)


def _system_random(*_args: Any, **_kwargs: Any) -> NoReturn:
    refuse(
        "random.SystemRandom is not allowed in workflow code: it is not replayable. Use random "
        "(seeded per run), or draw secrets in a 'use step' function."
    )


def _build_random() -> types.ModuleType:
    mod = types.ModuleType("random", "Deterministic random for workflow code (seeded per run).")
    for name in _RANDOM_FUNCTIONS:
        mod.__dict__[name] = _run_random_method(name)
    mod.__dict__.update(Random=_Random, SystemRandom=_system_random, seed=_random_seed)
    return _mark(mod, "module-level functions draw from the run's seeded generator.")


# -- uuid ----------------------------------------------------------------------------------
def _uuid4() -> _uuid.UUID:
    """A version-4 UUID from the run's random (deterministic on replay)."""
    return _uuid.UUID(int=current("uuid.uuid4()").random.getrandbits(128), version=4)


def _uuid1(*_args: Any, **_kwargs: Any) -> NoReturn:
    refuse(
        "uuid.uuid1() is not allowed in workflow code: it reads the host's MAC address and "
        "clock. Use uuid.uuid4() (deterministic in workflows) or uuid.uuid5()."
    )


def _build_uuid() -> types.ModuleType:
    mod = types.ModuleType("uuid", "uuid for workflow code: uuid4 comes from the run's random.")
    mod.__dict__.update(
        UUID=_uuid.UUID,
        SafeUUID=_uuid.SafeUUID,
        uuid1=_uuid1,
        uuid3=_uuid.uuid3,
        uuid4=_uuid4,
        uuid5=_uuid.uuid5,
        NAMESPACE_DNS=_uuid.NAMESPACE_DNS,
        NAMESPACE_URL=_uuid.NAMESPACE_URL,
        NAMESPACE_OID=_uuid.NAMESPACE_OID,
        NAMESPACE_X500=_uuid.NAMESPACE_X500,
        RESERVED_NCS=_uuid.RESERVED_NCS,
        RFC_4122=_uuid.RFC_4122,
        RESERVED_MICROSOFT=_uuid.RESERVED_MICROSOFT,
        RESERVED_FUTURE=_uuid.RESERVED_FUTURE,
    )
    return _mark(mod, "use uuid4(), uuid5(), uuid3() or UUID.")


#: The shim modules by name (built once; they hold no per-run state).
SHIMS: dict[str, types.ModuleType] = {
    "time": _build_time(),
    "datetime": _build_datetime(),
    "random": _build_random(),
    "uuid": _build_uuid(),
}
