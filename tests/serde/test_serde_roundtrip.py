"""Round trips: every supported type comes back with the same type and value."""

from __future__ import annotations

import collections
import copy
import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import serde_models as m
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wdk.serde
from wdk import serde
from wdk.errors import SerializationError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def roundtrip(value: Any) -> Any:
    return serde.decode(serde.encode(value))


@SETTINGS
@given(m.values)
def test_roundtrip_keeps_types_and_values(value: Any) -> None:
    data = serde.encode(value)
    out = serde.decode(data)
    assert m.same(value, out), (value, out)
    assert serde.encode(out) == data  # canonical: decoding and re-encoding is the identity


@SETTINGS
@given(m.values)
def test_equal_values_encode_to_equal_bytes(value: Any) -> None:
    assert serde.encode(copy.deepcopy(value)) == serde.encode(value)


@SETTINGS
@given(st.sets(m.hashables, max_size=8), st.randoms())
def test_set_bytes_do_not_depend_on_insertion_order(items: set[Any], rnd: Any) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert serde.encode(set(shuffled)) == serde.encode(items)
    assert serde.encode(frozenset(reversed(shuffled))) == serde.encode(frozenset(items))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -1,
        2**63,
        2**64 - 1,
        2**64,
        -(2**63) - 1,
        -(2**300),
        7**200,
        0.5,
        -0.0,
        math.inf,
        -math.inf,
        "",
        "a\0b",
        "\ud800 lone surrogate",
        b"\x00\xff",
        (),
        (1,),
        ((1, 2), [3, (4,)]),
        [(), []],
        {(1, "a"): 1, 2: "b", None: [], frozenset({1}): ()},
        {"z": 1, "a": 2},  # insertion order is part of the value
        set(),
        frozenset(),
        {1, "1", 1.5, (1, 2)},
        collections.OrderedDict([("b", 1), ("a", (2,))]),
        collections.Counter("hello"),
        collections.defaultdict(list, {"a": [1]}),
        collections.defaultdict(None, {"a": 1}),
        3 + 4j,
        uuid.UUID(int=0),
        Decimal("1.50"),
        Decimal("-0.000"),
        Decimal("Infinity"),
        Decimal("-sNaN42"),
        Decimal("1E+1000"),
        dt.date(1, 1, 1),
        dt.timedelta(days=-1, microseconds=1),
        dt.time(23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Kolkata")),
        m.Color.BLUE,
        m.Level.HIGH,
        m.Perm.R | m.Perm.X,
        m.Box(m.Box((1, {2}))),
        m.Point((1,), [2]),
        m.Model(name="n", items=[(1,), {"a": m.Box(1)}]),
        m.Money(150, "EUR"),
    ],
    ids=repr,
)
def test_roundtrip_examples(value: Any) -> None:
    out = roundtrip(value)
    assert m.same(value, out), (value, out)


def test_nan_roundtrips_as_float_nan() -> None:
    out = roundtrip([math.nan])
    assert type(out[0]) is float and math.isnan(out[0])


def test_bytes_like_values_decode_as_bytes() -> None:
    assert roundtrip([bytearray(b"ab"), memoryview(b"cd")]) == [b"ab", b"cd"]


@pytest.mark.parametrize(
    "value",
    [
        # The second 01:30 of the New York DST fall-back: only fold tells it apart.
        dt.datetime(2021, 11, 7, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
        dt.datetime(2021, 11, 7, 1, 30, fold=0, tzinfo=ZoneInfo("America/New_York")),
        dt.datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # imaginary time
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, seconds=7), "X")),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(minutes=90))),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime.min,
    ],
    ids=repr,
)
def test_datetimes_keep_wall_clock_zone_and_fold(value: dt.datetime) -> None:
    out = roundtrip(value)
    assert m.same(value, out)
    assert out.utcoffset() == value.utcoffset()
    if isinstance(value.tzinfo, ZoneInfo):
        assert out.tzinfo is value.tzinfo  # ZoneInfo(key) is cached: the very same zone
    if value.tzinfo is dt.UTC:
        assert out.tzinfo is dt.UTC


def test_dataclass_decoding_skips_init_and_post_init() -> None:
    value = m.Frozen(3)
    assert value.hidden == [3]
    out = roundtrip(value)
    assert out == value and out.hidden == [3]


def test_pydantic_model_keeps_fields_set() -> None:
    model = m.Model(name="x")
    out = roundtrip(model)
    assert out == model
    assert out.model_fields_set == {"name"}


def test_nested_encode_inside_a_hook_is_reentrant() -> None:
    class Wrapper:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    serde.register_ext(
        Wrapper,
        "test.reentrant",
        lambda w: serde.encode(w.inner),  # encodes while the outer encode is running
        lambda data: Wrapper(serde.decode(data)),
    )
    out = roundtrip([Wrapper((1, {2: Wrapper(frozenset({3}))}))])
    assert out[0].inner[0] == 1
    assert out[0].inner[1][2].inner == frozenset({3})


def test_exported_names() -> None:
    assert wdk.serde.__all__ == sorted(wdk.serde.__all__)
    assert wdk.serde.__all__ == [
        "RemoteError",
        "decode",
        "encode",
        "module_resolver",
        "register_ext",
    ]


def test_packer_state_is_clean_after_a_failed_encode() -> None:
    import threading

    expected = serde.encode({"a": (1, 2)})
    for _ in range(3):
        with pytest.raises(SerializationError):
            serde.encode({"a": (1, [threading.Lock()])})
        assert serde.encode({"a": (1, 2)}) == expected


def test_concurrent_encodes_in_threads_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    value = {"s": {f"k{i}" for i in range(50)}, "t": tuple(range(20)), "m": m.Box((1, {2}))}
    expected = serde.encode(value)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: serde.encode(value), range(200)))
    assert all(r == expected for r in results)
