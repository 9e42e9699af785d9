"""Exceptions across durable boundaries, and the :class:`RemoteError` stand-in.

A step's error is recorded in the event log and raised again in the workflow, possibly in
another process that cannot import the step's libraries. An exception is stored as::

    [module:qualname, args, message, instance __dict__, __cause__, __suppress_context__,
     traceback text]

``__dict__`` carries keyword fields such as ``RetryableError.retry_after`` and
``SerializationError.path`` (plus the few fields built-in exceptions keep outside ``args``,
like ``OSError.filename``); ``__cause__`` is encoded recursively, so the whole ``raise ...
from ...`` chain survives. ``__context__`` and live traceback objects do not: the formatted
traceback text (which shows the full chain) is kept instead, and is available on the decoded
exception as ``__wdk_traceback__``.

Decoding calls ``cls(*args)`` (like pickle), then restores ``args`` and ``__dict__`` exactly;
when the constructor refuses those arguments the instance is built with ``cls.__new__``. When
the class cannot be imported at all (the library is missing here, the class was local to a
function, ...) the result is a :class:`RemoteError` carrying the original type name, message,
arguments and traceback text, so the failure stays catchable and readable.
"""

from __future__ import annotations

import traceback as _traceback
from collections.abc import Iterable
from typing import Any

from wdk.serde import _types as t
from wdk.serde._classpath import resolve
from wdk.serde._types import Handler, Pack, Unpack, malformed

__all__ = ["DECODERS", "RemoteError", "exception_handler"]

_TB_ATTR = "__wdk_traceback__"


class RemoteError(Exception):
    """Stand-in for a decoded exception whose class cannot be imported in this process.

    ``str(err)`` reads ``"<type_name>: <message>"``.

    Attributes:
        type_name: The original class as ``module.qualname``.
        message: ``str()`` of the original exception.
        traceback: The original formatted traceback text (may be empty).
        remote_args: The original ``args``.
        remote_state: The original instance ``__dict__`` (keyword fields).
    """

    def __init__(
        self,
        message: str = "",
        *,
        type_name: str = "",
        traceback: str = "",
        remote_args: tuple[Any, ...] = (),
        remote_state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.remote_args = remote_args
        self.remote_state = remote_state or {}

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.type_name else self.message


RemoteError.__module__ = "wdk.serde"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the error itself
        return f"<{type(exc).__qualname__}: str() failed>"


def _traceback_text(exc: BaseException) -> str:
    if exc.__traceback__ is not None:
        return "".join(_traceback.format_exception(exc))
    text = getattr(exc, _TB_ATTR, "")
    return text if isinstance(text, str) else ""


# Fields that built-in exceptions keep in C slots rather than in ``args`` or ``__dict__``.
_SLOTS: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (OSError, ("filename", "filename2")),
    (ImportError, ("name", "path")),
    (NameError, ("name",)),
    (AttributeError, ("name",)),
)


def _state(exc: BaseException) -> dict[str, Any]:
    state = {k: v for k, v in (getattr(exc, "__dict__", None) or {}).items() if k != _TB_ATTR}
    for base, names in _SLOTS:
        if isinstance(exc, base):
            for name in names:
                value = getattr(exc, name, None)
                if value is not None:
                    state[name] = value
    return state


def exception_handler(cls: type[BaseException]) -> Handler:
    """The handler for instances of exception class ``cls``.

    A class without an import path is still encoded (errors must always cross); it decodes
    to a :class:`RemoteError`.
    """
    path = f"{cls.__module__}:{cls.__qualname__}"

    def encode(exc: BaseException, pack: Pack) -> bytes:
        return pack(
            [
                path,
                list(exc.args),
                _safe_str(exc),
                _state(exc),
                exc.__cause__,
                exc.__suppress_context__,
                _traceback_text(exc),
            ]
        )

    def children(exc: BaseException) -> Iterable[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [(f".args[{i}]", a) for i, a in enumerate(exc.args)]
        out += [(f".{k}", v) for k, v in _state(exc).items()]
        if exc.__cause__ is not None:
            out.append((".__cause__", exc.__cause__))
        return out

    return Handler(t.EXCEPTION, encode, children)


def _construct(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    try:
        return cls(*args)
    except Exception:  # noqa: BLE001 - constructors that re-format their args, kw-only fields
        return cls.__new__(cls, *args)


def _dec_exception(data: bytes, unpack: Unpack) -> BaseException:
    fields = unpack(data)
    if type(fields) is not list or len(fields) != 7:
        raise malformed("exception")
    path, args, message, state, cause, suppress, tb = fields
    if (
        type(path) is not str
        or type(args) is not list
        or type(message) is not str
        or type(state) is not dict
        or not all(type(k) is str for k in state)
        or not (cause is None or isinstance(cause, BaseException))
        or type(suppress) is not bool
        or type(tb) is not str
    ):
        raise malformed("exception")
    try:
        cls = resolve(path)
    except LookupError:
        cls = None
    exc: BaseException
    if isinstance(cls, type) and issubclass(cls, BaseException):
        exc = _construct(cls, tuple(args))
        exc.args = tuple(args)
        for name, value in state.items():  # setattr, like BaseException.__setstate__
            setattr(exc, name, value)
    else:
        exc = RemoteError(
            message,
            type_name=path.replace(":", "."),
            traceback=tb,
            remote_args=tuple(args),
            remote_state=state,
        )
    exc.__cause__ = cause
    exc.__suppress_context__ = suppress
    if tb:
        setattr(exc, _TB_ATTR, tb)
    return exc


DECODERS: dict[int, t.Decoder] = {t.EXCEPTION: _dec_exception}
"""Ext code -> decoder for exceptions."""
