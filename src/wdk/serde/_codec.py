"""``encode``/``decode``: the fast path.

Why it looks like this:

- JSON-like data (dict, list, str, int, float, bool, None, bytes) is packed and unpacked
  entirely by msgpack's C code; Python runs only for ext types, through ``default=`` when
  packing and ``ext_hook=`` when unpacking. ``strict_types=True`` makes tuples, subclasses
  (``IntEnum``, ``OrderedDict``, ...) and out-of-range ints reach ``default`` instead of being
  silently narrowed to their base type.
- Creating a ``msgpack.Packer`` costs more than packing a small value, so each thread keeps
  packers and reuses them. An ext payload is packed while the outer packer is mid-value, and
  a ``to_data`` hook may itself call :func:`encode`; one packer per nesting depth (a counter
  per thread) makes this re-entrant.
- Strings with lone surrogates (``os.fsdecode`` of odd file names) are not valid UTF-8. The
  fast packer refuses them; the whole value is then packed again with
  ``unicode_errors="surrogatepass"``, which decodes back to the same string. Other strings
  encode identically either way, so the bytes stay canonical.
- Nothing tracks a path on the hot path. On failure :mod:`wdk.serde._explain` re-walks the
  value to name the location.
- Decoding wraps every failure (truncated, corrupted or foreign bytes, unknown ext codes and
  tags, classes that no longer exist) into :class:`~wdk.errors.SerializationError`.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import msgpack

from wdk.errors import SerializationError
from wdk.serde._explain import explain
from wdk.serde._registry import DECODERS, HANDLERS, handler_for

__all__ = ["decode", "encode"]

_ExtType = msgpack.ExtType
# ExtType's own __new__ re-validates code and data in Python; ours are valid by construction.
_new_ext = partial(tuple.__new__, _ExtType)
_get_handler = HANDLERS.get


class _Encoder:
    """Re-entrant packing for one thread: one reusable packer per nesting depth."""

    __slots__ = ("_depth", "_pack", "_packers", "_unicode_errors")

    def __init__(self, unicode_errors: str | None) -> None:
        self._packers: list[Any] = []
        self._depth = 0
        self._unicode_errors = unicode_errors
        self._pack = self.pack

    def pack(self, value: Any) -> bytes:
        depth = self._depth
        packers = self._packers
        if depth == len(packers):
            packers.append(
                msgpack.Packer(
                    default=self._default,
                    use_bin_type=True,
                    strict_types=True,
                    autoreset=True,
                    unicode_errors=self._unicode_errors,
                    buf_size=65536 if depth == 0 else 1024,
                )
            )
        self._depth = depth + 1
        try:
            data: bytes = packers[depth].pack(value)
        finally:
            self._depth = depth
        return data

    def _default(self, obj: Any) -> Any:
        handler = _get_handler(type(obj)) or handler_for(type(obj))
        return _new_ext((handler.code, handler.encode(obj, self._pack)))


class _Local(threading.local):
    def __init__(self) -> None:
        self.strict = _Encoder(None)
        self.lenient = _Encoder("surrogatepass")


_local = _Local()


def encode(value: Any, *, path: str = "value") -> bytes:
    """Serialize ``value`` for a durable boundary.

    Equal values give equal bytes in every process (sets are sorted canonically; dicts keep
    their insertion order, which is part of the value).

    Args:
        value: Plain data, date/time values, Decimal, UUID, enums, dataclasses, named tuples,
            pydantic models, exceptions, classes with the custom protocol, and types added
            with :func:`wdk.serde.register_ext`, nested in any way.
        path: How the value is named in error messages: ``encode(args, path="args")``
            reports ``args[1]["client"]``.

    Returns:
        The msgpack bytes.

    Raises:
        SerializationError: Some part of ``value`` cannot be serialized; ``path`` and
            ``type_name`` say which, and the message says what to do instead.
    """
    try:
        return _local.strict.pack(value)
    except Exception as exc:  # noqa: BLE001 - every failure is explained below
        return _encode_slow(value, path, exc)


def _encode_slow(value: Any, path: str, error: Exception) -> bytes:
    if isinstance(error, UnicodeEncodeError):
        try:
            return _local.lenient.pack(value)
        except Exception as exc:  # noqa: BLE001
            error = exc
    raise explain(value, path, error, _local.lenient.pack)


def _ext_hook(code: int, data: bytes) -> Any:
    decoder = DECODERS.get(code)
    if decoder is None:
        raise SerializationError(
            f"unknown ext code {code}: the data was not written by wdk.serde, or by a newer "
            "version of it",
            type_name=f"ext {code}",
        )
    return decoder(data, _unpack)


_unpack = partial(
    msgpack.unpackb,
    ext_hook=_ext_hook,
    raw=False,
    strict_map_key=False,
    unicode_errors="surrogatepass",
)


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Rebuild a value from :func:`encode`'s bytes.

    Args:
        data: Exactly one encoded value.

    Returns:
        A value of the same types and contents as the one encoded.

    Raises:
        SerializationError: The bytes are truncated, corrupted, not written by wdk.serde, or
            name a class or ext tag this process cannot load. Never any other exception.
    """
    try:
        return _unpack(data)
    except SerializationError as exc:
        raise SerializationError(
            f"wdk cannot decode {_size(data)}: {exc.message}", type_name=exc.type_name
        ) from exc
    except Exception as exc:  # noqa: BLE001 - corrupt input must surface as one error type
        raise SerializationError(
            f"wdk cannot decode {_size(data)}: {_reason(exc)} (the data is truncated, "
            "corrupted or was not written by wdk.serde)",
        ) from exc


def _size(data: object) -> str:
    try:
        return f"{memoryview(data).nbytes} bytes"  # type: ignore[arg-type]
    except TypeError:
        return f"a {type(data).__name__} (expected bytes)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, msgpack.ExtraData):
        return "extra bytes after the value"
    if isinstance(exc, msgpack.FormatError):
        return "a byte that starts no msgpack value"
    if isinstance(exc, msgpack.StackError):
        return "the value is nested too deeply"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
