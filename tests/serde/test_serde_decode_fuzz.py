"""Bad bytes: decoding raises SerializationError and nothing else."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
import serde_models as m
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wdk import serde
from wdk.errors import SerializationError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_serialization_error(data: bytes) -> None:
    try:
        serde.decode(data)
    except SerializationError as exc:
        assert str(exc).startswith("wdk cannot decode ")


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    decode_or_serialization_error(data)


@SETTINGS
@given(m.values, st.data())
def test_every_truncation_fails(value: Any, data: st.DataObject) -> None:
    encoded = serde.encode(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(SerializationError):
        serde.decode(encoded[:cut])


@SETTINGS
@given(m.values, st.data())
def test_corrupted_encodings(value: Any, data: st.DataObject) -> None:
    encoded = bytearray(serde.encode(value))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(encoded) - 1))
        encoded[i] = data.draw(st.integers(0, 255))
    decode_or_serialization_error(bytes(encoded))


_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


@SETTINGS
@given(st.integers(0, 24) | st.integers(0, 127), _plain | st.binary())
def test_forged_ext_payloads(code: int, payload: Any) -> None:
    """Every ext code, fed data of the wrong shape, must fail cleanly (or decode)."""
    inner = payload if isinstance(payload, bytes) else msgpack.packb(payload)
    decode_or_serialization_error(msgpack.packb(msgpack.ExtType(code, inner)))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "0 bytes"),
        (b"\xc1", "starts no msgpack value"),
        (b"\x01\x02", "extra bytes"),
        (msgpack.packb(msgpack.ExtType(99, b"")), "unknown ext code 99"),
        (msgpack.packb(msgpack.ExtType(0, msgpack.packb(["no.such.tag", 1]))), "'no.such.tag'"),
        (msgpack.packb(msgpack.ExtType(11, msgpack.packb(["nowhere_zz:Enum", 1]))), "nowhere"),
        (msgpack.packb(msgpack.ExtType(12, msgpack.packb(["os:system", {}]))), "not a dataclass"),
        (msgpack.packb(msgpack.ExtType(1, msgpack.packb({"a": 1}))), "malformed tuple"),
        (msgpack.packb(msgpack.ExtType(5, msgpack.packb([1] * 10))), "cannot decode"),
        ("not bytes", "expected bytes"),
    ],
)
def test_decode_errors_are_clear(data: Any, words: str) -> None:
    with pytest.raises(SerializationError) as info:
        serde.decode(data)
    assert words in str(info.value)


def _dataclass_bytes(state: dict[str, Any]) -> bytes:
    return msgpack.packb(msgpack.ExtType(12, msgpack.packb(["serde_models:Box", state])))


def test_dataclass_field_added_since_encoding_takes_its_default() -> None:
    out = serde.decode(_dataclass_bytes({"value": 1}))
    assert out == m.Box(1, "box")


def test_dataclass_field_removed_since_encoding_is_an_error() -> None:
    with pytest.raises(SerializationError, match="no field"):
        serde.decode(_dataclass_bytes({"value": 1, "gone": 2}))
    with pytest.raises(SerializationError, match="lacks field 'value'"):
        serde.decode(_dataclass_bytes({}))


def test_decode_accepts_bytes_like_input() -> None:
    data = serde.encode({"a": (1,)})
    assert serde.decode(bytearray(data)) == serde.decode(memoryview(data)) == {"a": (1,)}
