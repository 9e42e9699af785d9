"""The shapes shared by the codec and the per-type handlers.

Each non-native type has a :class:`Handler` on the encode side and a decoder on the decode
side, both keyed by one msgpack ext code. A handler turns a value into the ext payload (bytes,
usually a nested msgpack encoding) and, for containers, lists its children so that the slow
error path can name the exact location of an unsupported value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wdk.errors import SerializationError

__all__ = [
    "Children",
    "Decoder",
    "Encoder",
    "Handler",
    "Pack",
    "Unpack",
    "malformed",
]

Pack = Callable[[Any], bytes]
"""Encodes a nested value with the full codec (re-entrant)."""

Unpack = Callable[[bytes], Any]
"""Decodes a nested ext payload with the full codec."""

Encoder = Callable[[Any, Pack], bytes]
Children = Callable[[Any], Iterable[tuple[str, Any]]]
Decoder = Callable[[bytes, Unpack], Any]

# msgpack ext codes; one per built-in kind. Registered types share REGISTERED and carry a
# string tag in the payload, so independent parts of wdk never collide on numbers.
REGISTERED = 0
TUPLE = 1
SET = 2
FROZENSET = 3
BIGINT = 4
DATETIME = 5
DATE = 6
TIME = 7
TIMEDELTA = 8
DECIMAL = 9
UUID = 10
ENUM = 11
DATACLASS = 12
PYDANTIC = 13
EXCEPTION = 14
CUSTOM = 15
ORDERED_DICT = 16
COUNTER = 17
DEFAULT_DICT = 18
COMPLEX = 19
NAMEDTUPLE = 20


@dataclass(frozen=True, slots=True)
class Handler:
    """How one type is encoded.

    Attributes:
        code: The msgpack ext code.
        encode: Returns the ext payload; may raise ``Unsupported``.
        children: For containers, the labelled children (``"[0]"``, ``".field"``), walked
            only to explain a failure. ``None`` for leaves.
    """

    code: int
    encode: Encoder
    children: Children | None = None


def malformed(kind: str, detail: str = "") -> SerializationError:
    """The error for an ext payload that does not have the shape wdk writes."""
    extra = f": {detail}" if detail else ""
    return SerializationError(f"malformed {kind} payload{extra}", type_name=kind)
