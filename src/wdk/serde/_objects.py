"""Handlers for user classes: enums, dataclasses, pydantic models, named tuples, protocol.

All of them are stored as ``[module:qualname, state]``: the class is found again by its import
path (see :mod:`wdk.serde._classpath`). Dataclasses and pydantic models are rebuilt *without*
calling ``__init__``, the way pickle does, so ``__post_init__``, validators and ``init=False``
fields cannot change the stored value on the way back:

- dataclass: ``{field: value}`` for every field (``init=False`` ones too). On decode a field
  missing from old data takes its default; a field the class no longer has is an error.
- pydantic: the model's own pickle state (fields, extra, fields set, private attributes).
- enum: the member's value; the member is looked up with ``cls(value)``.
- named tuple: the items; rebuilt with ``cls(*items)``.
- custom protocol: ``obj.__wdk_serialize__()`` and ``cls.__wdk_deserialize__(data)``.

Decoding checks that the path names the right kind of class, so stored data can never make the
codec call an arbitrary importable function.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Iterable
from typing import Any

from wdk.serde import _types as t
from wdk.serde._classpath import class_path, resolve
from wdk.serde._types import Handler, Pack, Unpack, malformed

__all__ = ["DECODERS", "object_handler"]


def _path_and_state(data: bytes, unpack: Unpack, kind: str) -> tuple[str, Any]:
    value = unpack(data)
    if type(value) is not list or len(value) != 2 or type(value[0]) is not str:
        raise malformed(kind)
    return value[0], value[1]


def _resolve_class(path: str, kind: str, check: Any) -> Any:
    cls = resolve(path)
    if not isinstance(cls, type) or not check(cls):
        raise malformed(kind, f"{path} is not a {kind} class")
    return cls


# -- enum ----------------------------------------------------------------------------------


def _enum_handler(cls: type[enum.Enum]) -> Handler:
    path = class_path(cls)
    return Handler(
        t.ENUM,
        lambda obj, pack: pack([path, obj.value]),
        lambda obj: [(".value", obj.value)],
    )


def _dec_enum(data: bytes, unpack: Unpack) -> enum.Enum:
    path, value = _path_and_state(data, unpack, "enum")
    cls = _resolve_class(path, "enum", lambda c: issubclass(c, enum.Enum))
    member: enum.Enum = cls(value)
    return member


# -- dataclass -----------------------------------------------------------------------------


def _dataclass_handler(cls: type) -> Handler:
    path = class_path(cls)
    names = [f.name for f in dataclasses.fields(cls)]

    def encode(obj: Any, pack: Pack) -> bytes:
        return pack([path, {name: getattr(obj, name) for name in names}])

    def children(obj: Any) -> Iterable[tuple[str, Any]]:
        return [(f".{name}", getattr(obj, name)) for name in names]

    return Handler(t.DATACLASS, encode, children)


@dataclasses.dataclass(frozen=True, slots=True)
class _DataclassInfo:
    names: frozenset[str]
    fields: tuple[dataclasses.Field[Any], ...]
    plain: bool  # no __slots__ anywhere: state can go straight into __dict__


_dataclass_info: dict[type, _DataclassInfo] = {}


def _info(cls: type) -> _DataclassInfo:
    info = _dataclass_info.get(cls)
    if info is None:
        fields = dataclasses.fields(cls)
        plain = not any("__slots__" in vars(c) for c in cls.__mro__[:-1])
        info = _DataclassInfo(frozenset(f.name for f in fields), fields, plain)
        _dataclass_info[cls] = info
    return info


def _dec_dataclass(data: bytes, unpack: Unpack) -> Any:
    path, state = _path_and_state(data, unpack, "dataclass")
    cls = resolve(path)
    info = _dataclass_info.get(cls) if isinstance(cls, type) else None
    if info is None:
        cls = _resolve_class(path, "dataclass", dataclasses.is_dataclass)
        info = _info(cls)
    if type(state) is not dict:
        raise malformed("dataclass")
    obj = cls.__new__(cls)
    if info.plain and state.keys() == info.names:
        obj.__dict__.update(state)
        return obj
    unknown = set(state) - info.names
    if unknown:
        raise malformed("dataclass", f"{path} has no field(s) {sorted(map(str, unknown))}")
    for f in info.fields:
        if f.name in state:
            value = state[f.name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            raise malformed("dataclass", f"stored {path} lacks field {f.name!r}")
        object.__setattr__(obj, f.name, value)
    return obj


# -- pydantic ------------------------------------------------------------------------------


def _pydantic_private(obj: Any) -> dict[str, Any] | None:
    private = obj.__pydantic_private__
    if not private:
        return None
    from pydantic_core import PydanticUndefined

    return {k: v for k, v in private.items() if v is not PydanticUndefined}


def _pydantic_handler(cls: type) -> Handler:
    path = class_path(cls)

    def encode(obj: Any, pack: Pack) -> bytes:
        state = [
            obj.__dict__,
            obj.__pydantic_extra__,
            set(obj.__pydantic_fields_set__),
            _pydantic_private(obj),
        ]
        return pack([path, state])

    def children(obj: Any) -> Iterable[tuple[str, Any]]:
        items = list(obj.__dict__.items())
        items += list((obj.__pydantic_extra__ or {}).items())
        items += list((_pydantic_private(obj) or {}).items())
        return [(f".{name}", value) for name, value in items]

    return Handler(t.PYDANTIC, encode, children)


def _dec_pydantic(data: bytes, unpack: Unpack) -> Any:
    from pydantic import BaseModel

    path, state = _path_and_state(data, unpack, "pydantic")
    cls = _resolve_class(path, "pydantic model", lambda c: issubclass(c, BaseModel))
    if type(state) is not list or len(state) != 4:
        raise malformed("pydantic")
    fields, extra, fields_set, private = state
    if (
        type(fields) is not dict
        or type(fields_set) is not set
        or not (extra is None or type(extra) is dict)
        or not (private is None or type(private) is dict)
    ):
        raise malformed("pydantic")
    obj = cls.__new__(cls)
    obj.__setstate__(
        {
            "__dict__": fields,
            "__pydantic_extra__": extra,
            "__pydantic_fields_set__": fields_set,
            "__pydantic_private__": private,
        }
    )
    return obj


# -- named tuple ---------------------------------------------------------------------------


def _namedtuple_handler(cls: type) -> Handler:
    path = class_path(cls)
    fields = tuple(cls._fields)  # type: ignore[attr-defined]
    return Handler(
        t.NAMEDTUPLE,
        lambda obj, pack: pack([path, list(obj)]),
        lambda obj: [(f".{name}", value) for name, value in zip(fields, obj, strict=True)],
    )


def _is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


def _dec_namedtuple(data: bytes, unpack: Unpack) -> Any:
    path, items = _path_and_state(data, unpack, "namedtuple")
    cls = _resolve_class(path, "namedtuple", _is_namedtuple)
    if type(items) is not list:
        raise malformed("namedtuple")
    return cls(*items)


# -- custom protocol -----------------------------------------------------------------------


def _custom_handler(cls: type) -> Handler:
    path = class_path(cls)
    return Handler(
        t.CUSTOM,
        lambda obj, pack: pack([path, obj.__wdk_serialize__()]),
        lambda obj: [("", obj.__wdk_serialize__())],
    )


def _has_protocol(cls: type) -> bool:
    return callable(getattr(cls, "__wdk_serialize__", None)) and callable(
        getattr(cls, "__wdk_deserialize__", None)
    )


def _dec_custom(data: bytes, unpack: Unpack) -> Any:
    path, state = _path_and_state(data, unpack, "custom")
    cls = _resolve_class(path, "__wdk_deserialize__", _has_protocol)
    return cls.__wdk_deserialize__(state)


def object_handler(cls: type) -> Handler | None:
    """The handler for instances of a user-defined ``cls``, or ``None``.

    Raises:
        Unsupported: ``cls`` is a supported kind but cannot be found again by path.
    """
    if _has_protocol(cls):
        return _custom_handler(cls)
    if issubclass(cls, enum.Enum):
        return _enum_handler(cls)
    if dataclasses.is_dataclass(cls):
        return _dataclass_handler(cls)
    if _is_namedtuple(cls):
        return _namedtuple_handler(cls)
    pydantic = sys.modules.get("pydantic")  # no model can exist before pydantic is imported
    if pydantic is not None and issubclass(cls, pydantic.BaseModel):
        return _pydantic_handler(cls)
    return None


DECODERS: dict[int, t.Decoder] = {
    t.ENUM: _dec_enum,
    t.DATACLASS: _dec_dataclass,
    t.PYDANTIC: _dec_pydantic,
    t.NAMEDTUPLE: _dec_namedtuple,
    t.CUSTOM: _dec_custom,
}
"""Ext code -> decoder for user-defined classes."""
