"""wdk._duration: the forms ``sleep`` and ``retry_after`` accept."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wdk._duration import format_duration, parse_duration, resolve_deadline
from wdk.errors import DurationError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("100ms", 0.1),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("0s", 0.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("1h30m", 5400.0),
        ("1m30.5s", 90.5),
        ("2w1d1h1m1s1ms", 1209600 + 86400 + 3600 + 60 + 1.001),
        ("  10s ", 10.0),
        (0, 0.0),
        (5, 5.0),
        (0.25, 0.25),
        (Fraction(1, 4), 0.25),
        (dt.timedelta(minutes=2, microseconds=5), 120.000005),
    ],
)
def test_accepted_forms(value: Any, seconds: float) -> None:
    result = parse_duration(value)
    assert type(result) is float and result == seconds


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("5 minutes", "not a number followed by a unit"),
        ("30", "needs a unit"),
        ("", "empty"),
        ("-5s", "negative"),
        ("5M", "not a number followed by a unit"),
        ("1m1h", "largest first"),
        ("1h1h", "largest first"),
        ("1e3s", "not a number followed by a unit"),
        ("9" * 400 + "w", "too large"),
        (-1, "negative"),
        (-0.5, "negative"),
        (math.nan, "not finite"),
        (math.inf, "not finite"),
        (True, "bool"),
        (dt.timedelta(seconds=-1), "negative"),
        (None, "NoneType is not a duration"),
        ([1], "list is not a duration"),
    ],
)
def test_refused_forms_quote_the_input_and_list_the_forms(value: Any, why: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(value)
    message = str(info.value)
    assert message.startswith(f"invalid duration {value!r}"[:40])
    assert why in message
    assert '"100ms", "30s", "5m", "2h", "1d" or "2w"' in message
    assert isinstance(info.value, ValueError)


def test_resolve_deadline_adds_durations_to_now() -> None:
    assert resolve_deadline("1m", now=1000.0) == 1060.0
    assert resolve_deadline(2, now=1000.0) == 1002.0


def test_resolve_deadline_accepts_aware_datetimes() -> None:
    at = dt.datetime(2030, 1, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    assert resolve_deadline(at, now=0.0) == at.timestamp()
    past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert resolve_deadline(past, now=2e9) == past.timestamp()


def test_resolve_deadline_refuses_naive_datetimes() -> None:
    with pytest.raises(DurationError, match="naive datetime") as info:
        resolve_deadline(dt.datetime(2030, 1, 1), now=0.0)
    assert "aware datetime" in str(info.value)


def test_parse_duration_refuses_datetimes() -> None:
    with pytest.raises(DurationError, match="datetime is not a duration"):
        parse_duration(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.1, "100ms"), (5400, "1h30m"), (1.5, "1s500ms"), (1209600 + 86400, "2w1d")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(deadline=None, max_examples=300)
@given(st.integers(min_value=0, max_value=10**13))
def test_format_parse_round_trip(millis: int) -> None:
    seconds = millis / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert format_duration(parse_duration(text)) == text


@settings(deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(["w", "d", "h", "m", "s", "ms"]), st.integers(0, 10**6)),
        min_size=1,
        max_size=6,
        unique_by=lambda p: p[0],
    )
)
def test_combined_forms_sum_their_parts(parts: list[tuple[str, int]]) -> None:
    order = ["w", "d", "h", "m", "s", "ms"]
    size = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    parts.sort(key=lambda p: order.index(p[0]))
    text = "".join(f"{n}{unit}" for unit, n in parts)
    millis = sum(n * size[u] * 1000 if u != "ms" else n for u, n in parts)
    assert parse_duration(text) == millis / 1000
