"""Importable classes and hypothesis strategies shared by the serde tests."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import math
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict


class Color(enum.Enum):
    RED = "red"
    BLUE = (1, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


@dataclasses.dataclass
class Box:
    value: Any
    label: str = "box"


@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    x: int
    hidden: list[int] = dataclasses.field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.hidden.append(self.x)  # decoding must not run this again


class Point(NamedTuple):
    x: Any
    y: Any


class Model(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    items: list[Any] = []


class Money:
    """Implements the custom protocol."""

    def __init__(self, cents: int, currency: str) -> None:
        self.cents, self.currency = cents, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents,
            other.currency,
        )

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))

    def __repr__(self) -> str:
        return f"Money({self.cents!r}, {self.currency!r})"

    def __wdk_serialize__(self) -> list[Any]:
        return [self.cents, self.currency]

    @classmethod
    def __wdk_deserialize__(cls, data: list[Any]) -> Money:
        return cls(*data)


class FormattingError(Exception):
    """Its __init__ re-formats its argument, like many library errors."""

    def __init__(self, name: str) -> None:
        super().__init__(f"bad thing: {name}")
        self.name = name


class KwOnlyError(Exception):
    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- deep comparison: same types and same values ---------------------------------------------


def same(a: Any, b: Any) -> bool:
    """True when ``b`` has exactly the types and values of ``a`` (nan == nan, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, (dt.datetime, dt.time)):
        return (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.fold == b.fold
            and same_tz(a.tzinfo, b.tzinfo)
        )
    if isinstance(a, (list, tuple)):  # named tuples too
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):  # OrderedDict, Counter, defaultdict too
        if isinstance(a, collections.defaultdict) and a.default_factory is not b.default_factory:
            return False
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, (set, frozenset)):
        return sorted(map(_key, a)) == sorted(map(_key, b))
    if isinstance(a, BaseModel):
        return same(a.__dict__, b.__dict__) and a.model_fields_set == b.model_fields_set
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


def _key(x: Any) -> str:
    """A repr that does not depend on set iteration order (for comparing set elements)."""
    if isinstance(x, (set, frozenset)):
        return f"{type(x).__name__}({sorted(map(_key, x))})"
    if isinstance(x, tuple):
        return f"{type(x).__name__}({[_key(i) for i in x]})"
    if isinstance(x, (dt.datetime, dt.time)):
        return f"{x!r}/{x.fold}/{x.tzinfo!r}"
    return f"{type(x).__name__}:{x!r}"


def same_tz(a: dt.tzinfo | None, b: dt.tzinfo | None) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, ZoneInfo):
        return a.key == b.key  # type: ignore[union-attr]
    if isinstance(a, dt.timezone):
        return a == b and a.tzname(None) == b.tzname(None)  # type: ignore[union-attr]
    return a is b


# -- strategies ------------------------------------------------------------------------------

_MAX_OFFSET = dt.timedelta(hours=23, minutes=59)
fixed_offsets = st.builds(
    dt.timezone, st.timedeltas(min_value=-_MAX_OFFSET, max_value=_MAX_OFFSET)
) | st.builds(
    dt.timezone,
    st.timedeltas(min_value=-_MAX_OFFSET, max_value=_MAX_OFFSET),
    st.text(min_size=1, max_size=5),
)
zones = st.none() | st.just(dt.UTC) | fixed_offsets | st.timezones()
datetimes = st.builds(
    lambda d, fold: d.replace(fold=fold), st.datetimes(timezones=zones), st.integers(0, 1)
)
times = st.builds(
    lambda t, fold: t.replace(fold=fold), st.times(timezones=zones), st.integers(0, 1)
)
# Lone surrogates (os.fsdecode of odd file names) are not UTF-8 but must round-trip.
texts = st.text() | st.text(st.characters(categories=["Cs"]) | st.characters())

scalars = st.deferred(lambda: _scalars)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]),
    texts,
    st.just("a\0b"),
    st.binary(),
    datetimes,
    st.dates(),
    times,
    st.timedeltas(),
    st.decimals(),
    st.sampled_from([Decimal("1.50"), Decimal("-0"), Decimal("NaN"), Decimal("-sNaN7")]),
    st.uuids(),
    st.complex_numbers(),
    st.sampled_from([*Color, *Level, Perm.R | Perm.W, Perm(0)]),
    st.builds(Money, st.integers(), st.sampled_from(["EUR", "USD"])),
)

_hashable_scalars = scalars.filter(lambda v: not isinstance(v, Decimal) or not v.is_snan())
hashables = st.deferred(lambda: _hashables)
_hashables = st.recursive(
    _hashable_scalars,
    lambda inner: st.lists(inner, max_size=4).map(tuple) | st.frozensets(inner, max_size=4),
    max_leaves=8,
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(hashables, children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
        st.sets(hashables, max_size=5),
        st.frozensets(hashables, max_size=5),
        st.dictionaries(hashables, children, max_size=4).map(collections.OrderedDict),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=4).map(collections.Counter),
        st.dictionaries(hashables, children, max_size=4).map(
            lambda d: collections.defaultdict(list, d)
        ),
        st.builds(Box, children, st.text(max_size=5)),
        st.builds(Frozen, st.integers()),
        st.builds(Point, children, children),
        st.builds(Model, name=st.text(max_size=5), items=st.lists(children, max_size=3)),
    )


values = st.deferred(lambda: _values)
_values = st.recursive(scalars, _containers, max_leaves=25)
