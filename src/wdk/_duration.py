"""Durations and deadlines: the one parser behind every time wdk accepts.

``sleep``, ``RetryableError.retry_after`` and the runtime's timers all go through here, so
the accepted forms and the error messages are the same everywhere.

Accepted durations:

- strings of a number and a unit: ``"100ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``,
  ``"2w"``; fractions (``"1.5h"``) and combinations in descending unit order, each unit at
  most once (``"1h30m"``, ``"2d12h"``, ``"1m30.5s"``). Units are lowercase (``"5M"`` could mean
  months) and a bare number string is refused (``"30"`` could mean ms or s);
- ``int``/``float`` seconds (not ``bool``), finite and ``>= 0``;
- ``datetime.timedelta`` ``>= 0``.

Deadlines (:func:`resolve_deadline`) also accept an aware ``datetime`` to wait until; a naive
one is refused because "when" would depend on the machine's time zone.

Strings are summed with :class:`~decimal.Decimal` and converted to ``float`` once, so
``parse_duration(format_duration(s)) == s`` for every whole number of milliseconds.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from decimal import Decimal
from typing import Any

from wdk.errors import DurationError

__all__ = ["format_duration", "parse_duration", "resolve_deadline"]

_UNITS: dict[str, Decimal] = {
    "w": Decimal(604800),
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}
_ORDER = ["w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(ms|w|d|h|m|s)")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")

_FORMS = (
    'a string like "100ms", "30s", "5m", "2h", "1d" or "2w" (also "1.5h" and "1h30m"), '
    "a number of seconds >= 0, or a datetime.timedelta >= 0"
)


def _fail(value: Any, why: str, forms: str = _FORMS) -> DurationError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return DurationError(f"invalid duration {shown}: {why}; expected {forms}")


def _parse_text(value: str, forms: str) -> float:
    text = value.strip()
    if not text:
        raise _fail(value, "it is empty", forms)
    if text.startswith("-"):
        raise _fail(value, "it is negative", forms)
    if _NUMBER.fullmatch(text):
        raise _fail(value, "a number in a string needs a unit (ms, s, m, h, d, w)", forms)
    total = Decimal(0)
    pos, last = 0, -1
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        rank = _ORDER.index(match.group(2))
        if rank <= last:
            raise _fail(value, "units must appear once each, largest first", forms)
        last = rank
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise _fail(value, "it is not a number followed by a unit (ms, s, m, h, d, w)", forms)
    seconds = float(total)
    if math.isinf(seconds):
        raise _fail(value, "it is too large", forms)
    return seconds


def _parse(value: Any, forms: str) -> float:
    if isinstance(value, str):
        return _parse_text(value, forms)
    if isinstance(value, bool):
        raise _fail(value, "a bool is not a number of seconds", forms)
    if isinstance(value, numbers.Real):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise _fail(value, "it is not finite", forms)
        if seconds < 0:
            raise _fail(value, "it is negative", forms)
        return seconds
    if isinstance(value, dt.timedelta):
        if value < dt.timedelta(0):
            raise _fail(value, "it is negative", forms)
        return value.total_seconds()
    raise _fail(value, f"a {type(value).__name__} is not a duration", forms)


def parse_duration(value: Any) -> float:
    """Seconds in a duration.

    Args:
        value: ``"100ms" "30s" "5m" "2h" "1d" "2w"`` (also ``"1.5h"``, ``"1h30m"``), a number
            of seconds, or a ``timedelta``.

    Returns:
        The duration in seconds, finite and ``>= 0``.

    Raises:
        DurationError: ``value`` is not one of the accepted forms, negative or not finite.
    """
    return _parse(value, _FORMS)


def resolve_deadline(value: Any, now: float) -> float:
    """The epoch time a duration or deadline ends at.

    Args:
        value: Any :func:`parse_duration` form (counted from ``now``), or an aware
            ``datetime`` (returned as is, even if in the past).
        now: The current epoch time in seconds.

    Returns:
        Epoch seconds.

    Raises:
        DurationError: ``value`` is not understood, or is a naive ``datetime``.
    """
    forms = _FORMS + ", or an aware datetime"
    if isinstance(value, dt.datetime):
        if value.utcoffset() is None:
            raise _fail(
                value,
                "a naive datetime has no time zone; add one, e.g. "
                "value.replace(tzinfo=datetime.timezone.utc)",
                forms,
            )
        return value.timestamp()
    return now + _parse(value, forms)


def format_duration(seconds: float) -> str:
    """Format seconds as a compact duration string, rounded to the millisecond.

    Args:
        seconds: A finite number ``>= 0``.

    Returns:
        For example ``"1h30m"``, ``"2w3d"``, ``"1.5s"`` is written ``"1s500ms"``, zero is
        ``"0s"``. :func:`parse_duration` reads it back.
    """
    millis = round(_parse(seconds, _FORMS) * 1000)
    parts: list[str] = []
    for unit in _ORDER:
        size = int(_UNITS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
