"""Stored values as JSON for people and HTTP clients, never failing on one odd value.

JSON cannot carry every value a workflow may store (an int past Python's 4,300-digit
conversion limit, NaN, a string with lone surrogates, a custom class). ``to_jsonable`` says
so by raising; ``encoded_json`` and ``value_json`` fall back, per value, to the
``{"$serde": "<base64>"}`` form, which ``wdk.serde.decode`` turns back into the value.
"""

from __future__ import annotations

from typing import Any

from wdk.serde._codec import decode, encode

__all__ = ["encoded_json", "safe_text", "to_jsonable", "value_json"]


#: Fewer bits than this cannot reach Python's int-to-text digit limit (4300 digits need at
#: least 14,284 bits), so only rarer, larger ints pay for the exact check.
_BIG_INT_BITS = 14_000


def _int_fits(value: int) -> bool:
    """Whether ``json.dumps`` can write ``value`` (Python refuses ints past its digit limit)."""
    if value.bit_length() < _BIG_INT_BITS:
        return True
    try:
        int.__repr__(value)
    except ValueError:
        return False
    return True


def _text_fits(value: str) -> bool:
    """Whether ``value`` is valid Unicode (lone surrogates cannot be sent as UTF-8)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a decoded value; raises TypeError when something has no JSON form.

    ``bytes`` become ``{"$bytes": "<base64>"}``; tuples and sets become lists; dataclasses
    and objects with ``__wdk_serialize__`` become their field maps. What it returns always
    goes through ``json.dumps(..., allow_nan=False)`` and UTF-8: NaN and infinities, ints
    past Python's 4,300-digit conversion limit and strings with lone surrogates raise here.
    """
    import base64
    import dataclasses

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _int_fits(value):
            raise TypeError("integer with more digits than Python converts to text")
        return int(value)
    if isinstance(value, str):
        if not _text_fits(value):
            raise TypeError("string with lone surrogates (not valid Unicode)")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError("non-finite float")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not _text_fits(k):
                raise TypeError("non-string key")
            out[k] = to_jsonable(v)
        return out
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    serialize = getattr(value, "__wdk_serialize__", None)
    if callable(serialize):
        return to_jsonable(serialize())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _serde_form(data: bytes) -> dict[str, str]:
    import base64

    return {"$serde": base64.b64encode(data).decode("ascii")}


def encoded_json(data: bytes | None) -> Any:
    """A stored (serde-encoded) value as JSON; never raises.

    A value without a JSON form (or that no longer decodes) becomes
    ``{"$serde": "<base64 of the stored bytes>"}``: the fallback is per stored value, so one
    run's odd output never breaks a response listing many runs, nor a stream.
    """
    if not data:
        return None
    try:
        return to_jsonable(decode(data))
    except Exception:  # noqa: BLE001 - undecodable or not JSON-able: hand out the raw form
        return _serde_form(data)


def value_json(value: Any) -> Any:
    """A decoded value as JSON, else its ``{"$serde": ...}`` form (None if even that fails)."""
    try:
        return to_jsonable(value)
    except Exception:  # noqa: BLE001 - RecursionError, odd __wdk_serialize__: fall back
        pass
    try:
        return _serde_form(encode(value))
    except Exception:  # noqa: BLE001 - nothing to show rather than a failed response
        return None


def safe_text(value: Any) -> str:
    r"""``str(value)`` that always goes out as UTF-8 JSON (for messages read from records).

    Lone surrogates (``os.fsdecode`` of odd file names) become ``\udcXX`` escapes; a value
    whose ``str`` fails is shown by its type.
    """
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - e.g. a 4,301-digit int: name it instead
        return f"<{type(value).__name__} that cannot be shown as text>"
    if _text_fits(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
