"""Handlers for the standard-library types msgpack has no native form for.

Every payload is chosen so that decoding gives back the same type *and* value:

- ``tuple`` is its own ext (a list payload), so tuples never come back as lists.
- ``set``/``frozenset`` payloads are msgpack arrays whose items are sorted by their encoded
  bytes. Python's set order depends on ``PYTHONHASHSEED``; sorting by bytes makes equal sets
  encode to equal bytes in every process.
- ``int`` beyond msgpack's 64-bit range: two's-complement big-endian bytes.
- ``datetime``/``time``: wall-clock fields, ``fold``, and the zone as an IANA key (for
  ``zoneinfo.ZoneInfo``) or a fixed offset (for ``datetime.timezone``, custom names kept),
  packed with ``struct`` (leaf values skip a nested msgpack decode).
  msgpack's own ``datetime=True`` stores an instant and drops the zone, so a value in
  ``Europe/Paris`` would come back in UTC. The UTC offset at encode time is stored too, for
  readers of raw data; decoding trusts the zone key, so a later tz database change keeps the
  wall clock.
- ``Decimal`` as its ``str``: exact, keeps the exponent (``1.50``), NaN payloads and signs.
- ``OrderedDict``, ``Counter`` and ``defaultdict`` (whose factory must be an importable class
  or ``None``) keep their type. Other dict subclasses are refused, never silently narrowed.
"""

from __future__ import annotations

import collections
import datetime as dt
import struct
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from wdk.serde import _types as t
from wdk.serde._classpath import Unsupported, class_path, resolve, type_name
from wdk.serde._types import Handler, Pack, Unpack, malformed

__all__ = ["DECODERS", "HANDLERS", "array_header", "dict_children", "key_label"]

_ONE_US = dt.timedelta(microseconds=1)


def array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return struct.pack(">BH", 0xDC, n)
    return struct.pack(">BI", 0xDD, n)


def key_label(key: Any) -> str:
    """How a dict key appears in an error path: ``["client"]``, ``[3]``."""
    if type(key) is str:
        escaped = key.replace("\\", "\\\\").replace('"', '\\"')
        return f'["{escaped}"]'
    text = repr(key)
    return f"[{text if len(text) <= 40 else text[:37] + '...'}]"


def dict_children(d: dict[Any, Any]) -> Iterable[tuple[str, Any]]:
    """Keys (as ``<key i>``) and values (as ``[key]``) of a mapping, for error paths."""
    for i, (key, value) in enumerate(d.items()):
        yield f"<key {i}>", key
        yield key_label(key), value


def _list(value: Any, kind: str, n: int | None = None) -> list[Any]:
    if type(value) is not list or (n is not None and len(value) != n):
        raise malformed(kind)
    return value


def _dict(value: Any, kind: str) -> dict[Any, Any]:
    if type(value) is not dict:
        raise malformed(kind)
    return value


# -- containers ----------------------------------------------------------------------------


def _enc_tuple(obj: tuple[Any, ...], pack: Pack) -> bytes:
    return pack(list(obj))


def _dec_tuple(data: bytes, unpack: Unpack) -> tuple[Any, ...]:
    return tuple(_list(unpack(data), "tuple"))


def _enc_set(obj: Iterable[Any], pack: Pack) -> bytes:
    items = sorted([pack(item) for item in obj])
    return array_header(len(items)) + b"".join(items)


def _dec_set(data: bytes, unpack: Unpack) -> set[Any]:
    return set(_list(unpack(data), "set"))


def _dec_frozenset(data: bytes, unpack: Unpack) -> frozenset[Any]:
    return frozenset(_list(unpack(data), "frozenset"))


def _seq_children(obj: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    return ((f"[{i}]", item) for i, item in enumerate(obj))


def _set_children(obj: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    return ((f"<element {i}>", item) for i, item in enumerate(obj))


def _enc_mapping(obj: dict[Any, Any], pack: Pack) -> bytes:
    return pack(dict(obj))


def _dec_ordered(data: bytes, unpack: Unpack) -> collections.OrderedDict[Any, Any]:
    return collections.OrderedDict(_dict(unpack(data), "OrderedDict"))


def _dec_counter(data: bytes, unpack: Unpack) -> collections.Counter[Any]:
    return collections.Counter(_dict(unpack(data), "Counter"))


def _factory_path(obj: collections.defaultdict[Any, Any]) -> str | None:
    factory = obj.default_factory
    if factory is None:
        return None
    if not isinstance(factory, type):
        raise Unsupported(
            f"its default_factory {factory!r} is not a class; only a defaultdict whose factory "
            "is an importable class (list, int, dict, a dataclass, ...) or None can be "
            "serialized. Convert it with dict(...)."
        )
    return class_path(factory)


def _enc_defaultdict(obj: collections.defaultdict[Any, Any], pack: Pack) -> bytes:
    return pack([_factory_path(obj), dict(obj)])


def _defaultdict_children(obj: collections.defaultdict[Any, Any]) -> Iterable[tuple[str, Any]]:
    _factory_path(obj)
    return dict_children(obj)


def _dec_defaultdict(data: bytes, unpack: Unpack) -> collections.defaultdict[Any, Any]:
    path, items = _list(unpack(data), "defaultdict", 2)
    factory = None
    if path is not None:
        if type(path) is not str:
            raise malformed("defaultdict")
        factory = resolve(path)
        if not isinstance(factory, type):
            raise malformed("defaultdict", f"{path} is not a class")
    return collections.defaultdict(factory, _dict(items, "defaultdict"))


# -- numbers -------------------------------------------------------------------------------
# Leaf payloads are raw bytes (struct / UTF-8), not nested msgpack: one less unpack per value.

_COMPLEX = struct.Struct(">dd")


def _enc_bigint(obj: int, pack: Pack) -> bytes:
    return int(obj).to_bytes((obj.bit_length() + 8) // 8, "big", signed=True)


def _dec_bigint(data: bytes, unpack: Unpack) -> int:
    return int.from_bytes(data, "big", signed=True)


def _enc_decimal(obj: Decimal, pack: Pack) -> bytes:
    return str(obj).encode("ascii")


def _dec_decimal(data: bytes, unpack: Unpack) -> Decimal:
    return Decimal(data.decode("ascii"))


def _enc_complex(obj: complex, pack: Pack) -> bytes:
    return _COMPLEX.pack(obj.real, obj.imag)


def _dec_complex(data: bytes, unpack: Unpack) -> complex:
    return complex(*_COMPLEX.unpack(data))


def _enc_uuid(obj: uuid.UUID, pack: Pack) -> bytes:
    return obj.bytes


def _dec_uuid(data: bytes, unpack: Unpack) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(data))


# -- dates and times -----------------------------------------------------------------------
# datetime: year..microsecond, fold, then a zone kind byte; aware values add the UTC offset in
# microseconds (for a fixed zone: the zone itself) and the IANA key or custom zone name.
# time: the same without the date and, for IANA zones (which give times no offset), no offset.

_DATETIME = struct.Struct(">HBBBBBIB")
_TIME = struct.Struct(">BBBIB")
_OFFSET = struct.Struct(">q")
_NAIVE, _IANA, _FIXED, _NAMED = b"\x00", b"\x01", b"\x02", b"\x03"


def _zone(tz: dt.tzinfo) -> tuple[bytes, bytes]:
    """(kind byte, trailing bytes) of an aware value's zone."""
    if type(tz) is ZoneInfo:
        if tz.key is None:
            raise Unsupported(
                "its ZoneInfo was loaded from a file and has no IANA key; use "
                "zoneinfo.ZoneInfo('Area/City') or a datetime.timezone"
            )
        return _IANA, tz.key.encode()
    if type(tz) is dt.timezone:
        name = tz.tzname(None)
        if name == dt.timezone(tz.utcoffset(None)).tzname(None):
            return _FIXED, b""
        return _NAMED, name.encode("utf-8", "surrogatepass")
    raise Unsupported(
        f"its tzinfo is a {type_name(type(tz))}; only zoneinfo.ZoneInfo (IANA zones) and "
        "datetime.timezone (fixed offsets, UTC) are supported. Convert it, e.g. "
        "value.astimezone(ZoneInfo('Europe/Paris'))."
    )


def _micros(offset: dt.timedelta | None) -> bytes:
    return _OFFSET.pack(0 if offset is None else offset // _ONE_US)


def _zone_from(kind: int, offset: bytes, rest: bytes) -> dt.tzinfo:
    if kind == 1:
        return ZoneInfo(rest.decode())
    if kind not in (2, 3) or len(offset) != 8:
        raise malformed("tzinfo")
    delta = dt.timedelta(microseconds=_OFFSET.unpack(offset)[0])
    if kind == 2:
        if rest:
            raise malformed("tzinfo")
        return dt.timezone(delta)
    return dt.timezone(delta, rest.decode("utf-8", "surrogatepass"))


def _enc_datetime(obj: dt.datetime, pack: Pack) -> bytes:
    head = _DATETIME.pack(
        obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold
    )
    tz = obj.tzinfo
    if tz is None:
        return head + _NAIVE
    kind, rest = _zone(tz)
    return head + kind + _micros(obj.utcoffset()) + rest


def _dec_datetime(data: bytes, unpack: Unpack) -> dt.datetime:
    n = _DATETIME.size
    y, mo, d, h, mi, s, us, fold = _DATETIME.unpack_from(data)
    kind = data[n]
    if kind == 0:
        if len(data) != n + 1:
            raise malformed("datetime")
        tz = None
    else:
        tz = _zone_from(kind, data[n + 1 : n + 9], data[n + 9 :])
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=tz, fold=fold)


def _enc_time(obj: dt.time, pack: Pack) -> bytes:
    head = _TIME.pack(obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold)
    tz = obj.tzinfo
    if tz is None:
        return head + _NAIVE
    kind, rest = _zone(tz)
    return head + kind + (b"" if kind == _IANA else _micros(obj.utcoffset())) + rest


def _dec_time(data: bytes, unpack: Unpack) -> dt.time:
    n = _TIME.size
    h, mi, s, us, fold = _TIME.unpack_from(data)
    kind = data[n]
    tz: dt.tzinfo | None
    if kind == 0:
        if len(data) != n + 1:
            raise malformed("time")
        tz = None
    elif kind == 1:
        tz = _zone_from(kind, b"", data[n + 1 :])
    else:
        tz = _zone_from(kind, data[n + 1 : n + 9], data[n + 9 :])
    return dt.time(h, mi, s, us, tzinfo=tz, fold=fold)


_DATE = struct.Struct(">I")
_TIMEDELTA = struct.Struct(">iII")


def _enc_date(obj: dt.date, pack: Pack) -> bytes:
    return _DATE.pack(obj.toordinal())


def _dec_date(data: bytes, unpack: Unpack) -> dt.date:
    return dt.date.fromordinal(_DATE.unpack(data)[0])


def _enc_timedelta(obj: dt.timedelta, pack: Pack) -> bytes:
    return _TIMEDELTA.pack(obj.days, obj.seconds, obj.microseconds)


def _dec_timedelta(data: bytes, unpack: Unpack) -> dt.timedelta:
    days, seconds, us = _TIMEDELTA.unpack(data)
    return dt.timedelta(days=days, seconds=seconds, microseconds=us)


HANDLERS: dict[type, Handler] = {
    tuple: Handler(t.TUPLE, _enc_tuple, _seq_children),
    set: Handler(t.SET, _enc_set, _set_children),
    frozenset: Handler(t.FROZENSET, _enc_set, _set_children),
    int: Handler(t.BIGINT, _enc_bigint),
    Decimal: Handler(t.DECIMAL, _enc_decimal),
    complex: Handler(t.COMPLEX, _enc_complex),
    uuid.UUID: Handler(t.UUID, _enc_uuid),
    dt.datetime: Handler(t.DATETIME, _enc_datetime),
    dt.date: Handler(t.DATE, _enc_date),
    dt.time: Handler(t.TIME, _enc_time),
    dt.timedelta: Handler(t.TIMEDELTA, _enc_timedelta),
    collections.OrderedDict: Handler(t.ORDERED_DICT, _enc_mapping, dict_children),
    collections.Counter: Handler(t.COUNTER, _enc_mapping, dict_children),
    collections.defaultdict: Handler(t.DEFAULT_DICT, _enc_defaultdict, _defaultdict_children),
}
"""Exact type -> handler for the built-in ext types."""

DECODERS: dict[int, t.Decoder] = {
    t.TUPLE: _dec_tuple,
    t.SET: _dec_set,
    t.FROZENSET: _dec_frozenset,
    t.BIGINT: _dec_bigint,
    t.DECIMAL: _dec_decimal,
    t.COMPLEX: _dec_complex,
    t.UUID: _dec_uuid,
    t.DATETIME: _dec_datetime,
    t.DATE: _dec_date,
    t.TIME: _dec_time,
    t.TIMEDELTA: _dec_timedelta,
    t.ORDERED_DICT: _dec_ordered,
    t.COUNTER: _dec_counter,
    t.DEFAULT_DICT: _dec_defaultdict,
}
"""Ext code -> decoder for the built-in ext types."""
