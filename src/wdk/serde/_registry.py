"""Which handler encodes a value of a given type, and the ``register_ext`` extension point.

Lookup order for ``type(value)`` (the answer is cached per type):

1. exact type: the built-in ext types and types registered with ``register_ext``;
2. ``register_ext(..., subclasses=True)`` registrations, by ``issubclass``, oldest first;
3. the custom protocol (``__wdk_serialize__``/``__wdk_deserialize__``), enums, dataclasses,
   named tuples, pydantic models, exceptions;
4. otherwise a handler that refuses the value with a message saying what to do.

Registered types are stored as ``[tag, to_data(value)]`` under one shared ext code, so parts
of wdk (step references, stream handles, ``wdk.Response``, ...) pick readable string tags and
never collide on msgpack's 128 numeric codes. The last registration of a tag wins, which
keeps module reloads harmless.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wdk.errors import SerializationError
from wdk.serde import _builtin, _exceptions, _objects
from wdk.serde import _types as t
from wdk.serde._classpath import Unsupported, type_name
from wdk.serde._types import Handler, Pack, Unpack, malformed

__all__ = ["DECODERS", "HANDLERS", "handler_for", "register_ext"]

_GENERIC = (
    "only plain data (None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset), "
    "date/time values, Decimal, UUID, Enum members, dataclasses, named tuples, pydantic "
    "models, exceptions and classes with __wdk_serialize__/__wdk_deserialize__ cross a "
    "durable boundary. Construct it inside a step, or pass a step-wrapped factory."
)

_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.LambdaType,
    staticmethod,
    classmethod,
)

_NATIVE = (
    type(None), bool, int, float, str, bytes, bytearray, memoryview, list, dict,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Registration:
    cls: type
    tag: str
    to_data: Callable[[Any], Any]
    from_data: Callable[[Any], Any]
    subclasses: bool
    handler: Handler


_lock = threading.Lock()
_by_tag: dict[str, _Registration] = {}
_base: dict[type, Handler] = dict(_builtin.HANDLERS)
_handlers: dict[type, Handler] = dict(_base)
_MAX_CACHED = 10_000


HANDLERS = _handlers
"""The per-type handler cache (mutated in place, never rebound) for the codec's fast path."""


def _refuse(reason: str) -> Handler:
    def encode(obj: Any, pack: Pack) -> bytes:
        raise Unsupported(reason)

    return Handler(t.REGISTERED, encode)


def _reason(cls: type) -> str:
    if issubclass(cls, _FUNCTION_TYPES) or cls.__name__ in {"partial", "method-wrapper"}:
        return (
            "functions cannot cross a durable boundary; only steps (functions whose first "
            'statement is "use step") can, once the wdk runtime is loaded. Construct what '
            "you need inside a step, or pass a step-wrapped factory."
        )
    if issubclass(cls, type):
        return "classes cannot cross a durable boundary; pass data (e.g. an import path string)."
    for base in (dict, list, str, bytes, int, float, set, frozenset, tuple):
        if issubclass(cls, base):
            return (
                f"it is a subclass of {base.__name__}, whose extra state would be lost; "
                f"convert it with {base.__name__}(...), make it a dataclass, or implement "
                "__wdk_serialize__/__wdk_deserialize__."
            )
    return _GENERIC


def _compute(cls: type) -> Handler:
    for reg in _by_tag.values():
        if reg.subclasses and issubclass(cls, reg.cls):
            return reg.handler
    try:
        handler = _objects.object_handler(cls)
    except Unsupported as exc:
        return _refuse(exc.reason)
    if handler is not None:
        return handler
    if issubclass(cls, BaseException):
        return _exceptions.exception_handler(cls)
    return _refuse(_reason(cls))


def handler_for(cls: type) -> Handler:
    """The handler for values whose exact type is ``cls`` (always returns one)."""
    handler = _handlers.get(cls)
    if handler is None:
        handler = _compute(cls)
        if len(_handlers) > _MAX_CACHED:  # classes created per run must not pile up
            _handlers.clear()
            _handlers.update(_base)
        _handlers[cls] = handler
    return handler


def _registered_handler(tag: str, to_data: Callable[[Any], Any]) -> Handler:
    return Handler(
        t.REGISTERED,
        lambda obj, pack: pack([tag, to_data(obj)]),
        lambda obj: [("", to_data(obj))],
    )


def register_ext(
    cls: type,
    tag: str,
    to_data: Callable[[Any], Any],
    from_data: Callable[[Any], Any],
    *,
    subclasses: bool = False,
) -> None:
    """Teach the codec a new type.

    ``to_data(value)`` returns any value the codec can encode (it is encoded recursively, so
    it may hold other registered types); ``from_data(data)`` rebuilds the value from the
    decoded data. Both processes must have registered the tag (import the registering module
    before decoding). A registration for an exact type wins over every built-in rule except
    the native msgpack types; ``subclasses=True`` also covers subclasses of ``cls``.

    Args:
        cls: The type to encode (e.g. ``types.FunctionType`` for step references).
        tag: A unique, stable string such as ``"wdk.step"``; stored in the data.
        to_data: Turns a value into encodable data.
        from_data: Turns decoded data back into a value.
        subclasses: Also use this registration for subclasses of ``cls``.

    Raises:
        TypeError: ``cls`` is not a class or a callback is not callable.
        ValueError: ``tag`` is empty, or ``cls`` is a type the codec handles natively.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_ext needs a class, got {cls!r}")
    if not callable(to_data) or not callable(from_data):
        raise TypeError("register_ext needs callable to_data and from_data")
    if not isinstance(tag, str) or not tag:
        raise ValueError("register_ext needs a non-empty string tag")
    if cls in _NATIVE or cls in _builtin.HANDLERS:
        raise ValueError(f"{type_name(cls)} is built into wdk.serde and cannot be re-registered")
    reg = _Registration(cls, tag, to_data, from_data, subclasses, _registered_handler(tag, to_data))
    with _lock:
        for old_tag, old in list(_by_tag.items()):
            if old.cls is cls or old_tag == tag:
                del _by_tag[old_tag]
                _base.pop(old.cls, None)
        _by_tag[tag] = reg
        _base[cls] = reg.handler
        _handlers.clear()
        _handlers.update(_base)


def _dec_registered(data: bytes, unpack: Unpack) -> Any:
    value = unpack(data)
    if type(value) is not list or len(value) != 2 or type(value[0]) is not str:
        raise malformed("registered ext")
    tag, payload = value
    reg = _by_tag.get(tag)
    if reg is None:
        raise SerializationError(
            f"unknown ext tag {tag!r}: no type is registered for it with "
            "wdk.serde.register_ext in this process (import the module that registers it "
            "before decoding)",
            type_name=tag,
        )
    return reg.from_data(payload)


DECODERS: dict[int, t.Decoder] = {
    **_builtin.DECODERS,
    **_objects.DECODERS,
    **_exceptions.DECODERS,
    t.REGISTERED: _dec_registered,
}
"""Every ext code the codec reads."""
