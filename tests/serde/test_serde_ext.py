"""Exceptions, the RemoteError stand-in, and the register_ext extension point."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

import msgpack
import pytest
import serde_models as m

from wdk import serde
from wdk.errors import FatalError, RetryableError, SerializationError
from wdk.serde import RemoteError


def roundtrip(value: Any) -> Any:
    return serde.decode(serde.encode(value))


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return caught


# -- exceptions ----------------------------------------------------------------------------


def test_wdk_error_keyword_fields_survive() -> None:
    retry = roundtrip(RetryableError("later", retry_after=dt.timedelta(seconds=5)))
    assert type(retry) is RetryableError
    assert (str(retry), retry.retry_after) == ("later", dt.timedelta(seconds=5))
    ser = roundtrip(SerializationError("m", path="args[0]", type_name="x.Y"))
    assert (ser.path, ser.type_name, ser.args) == ("args[0]", "x.Y", ("m",))


def test_cause_chain_and_traceback_text_survive() -> None:
    root = raised(KeyError("k"))
    mid = FatalError("mid")
    mid.__cause__ = root
    top = raised(ValueError("top", 2))
    top.__cause__ = mid
    out = roundtrip(top)
    assert type(out) is ValueError and out.args == ("top", 2)
    assert type(out.__cause__) is FatalError and str(out.__cause__) == "mid"
    assert type(out.__cause__.__cause__) is KeyError
    assert out.__cause__.__cause__.args == ("k",)
    assert "Traceback (most recent call last)" in out.__wdk_traceback__
    assert "ValueError: ('top', 2)" in out.__wdk_traceback__
    assert out.__cause__.__cause__.__wdk_traceback__.startswith("Traceback")


def test_args_are_restored_exactly_even_if_init_reformats_them() -> None:
    out = roundtrip(m.FormattingError("disk"))
    assert type(out) is m.FormattingError
    assert out.args == ("bad thing: disk",) and out.name == "disk"


def test_keyword_only_constructor_falls_back_to_new() -> None:
    out = roundtrip(m.KwOnlyError("boom", code=7))
    assert type(out) is m.KwOnlyError and out.args == ("boom",) and out.code == 7


def test_builtin_exceptions_keep_their_fields() -> None:
    err = roundtrip(FileNotFoundError(2, "No such file", "/x"))
    assert type(err) is FileNotFoundError
    assert (err.errno, err.strerror, err.filename) == (2, "No such file", "/x")
    stop = roundtrip(StopIteration(5))
    assert stop.value == 5


def test_notes_survive() -> None:
    exc = ValueError("x")
    exc.add_note("context")
    assert roundtrip(exc).__notes__ == ["context"]


def _local_error() -> Exception:
    class LocalError(Exception):
        pass

    err = LocalError("lost class", 3)
    err.detail = "kept"  # type: ignore[attr-defined]
    return raised(err)  # type: ignore[return-value]


def test_unimportable_exception_becomes_remote_error() -> None:
    out = roundtrip(_local_error())
    assert type(out) is RemoteError
    assert out.type_name == "test_serde_ext._local_error.<locals>.LocalError"
    assert out.message == "('lost class', 3)"
    assert out.remote_args == ("lost class", 3)
    assert out.remote_state == {"detail": "kept"}
    assert "LocalError: ('lost class', 3)" in out.traceback
    assert str(out).startswith("test_serde_ext._local_error.<locals>.LocalError: ")


def test_missing_module_exception_becomes_remote_error() -> None:
    inner = ["gone_pkg_zz.errors:Oops", ["x"], "x", {}, None, False, "tb"]
    data = msgpack.packb(msgpack.ExtType(14, msgpack.packb(inner)))
    out = serde.decode(data)
    assert type(out) is RemoteError
    assert (out.type_name, out.message, out.traceback) == ("gone_pkg_zz.errors.Oops", "x", "tb")


def test_remote_error_round_trips_as_itself() -> None:
    first = roundtrip(_local_error())
    second = roundtrip(first)
    assert type(second) is RemoteError
    assert (second.type_name, second.message, second.remote_args) == (
        first.type_name,
        first.message,
        first.remote_args,
    )


def test_exception_with_unprintable_str_still_encodes() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    out = roundtrip(Weird())
    assert type(out) is RemoteError and "str() failed" in out.message


# -- register_ext --------------------------------------------------------------------------


class Handle:
    def __init__(self, name: str, extra: Any = None) -> None:
        self.name, self.extra = name, extra


class SubHandle(Handle):
    pass


def test_registered_type_round_trips_with_nested_values() -> None:
    serde.register_ext(
        Handle, "test.handle", lambda h: [h.name, h.extra], lambda d: Handle(d[0], d[1])
    )
    out = roundtrip({"h": Handle("a", (1, {2}))})
    assert type(out["h"]) is Handle and out["h"].name == "a" and out["h"].extra == (1, {2})


def test_subclasses_only_when_asked() -> None:
    serde.register_ext(Handle, "test.handle", lambda h: h.name, lambda d: Handle(d))
    with pytest.raises(SerializationError):
        serde.encode(SubHandle("s"))
    serde.register_ext(
        Handle, "test.handle", lambda h: h.name, lambda d: Handle(d), subclasses=True
    )
    assert type(roundtrip(SubHandle("s"))) is Handle


def test_exact_registration_wins_over_dataclass_rule() -> None:
    class Tagged(m.Box):
        pass

    serde.register_ext(Tagged, "test.tagged", lambda b: b.value, lambda d: Tagged(d))
    out = roundtrip(Tagged(5))
    assert type(out) is Tagged and out.value == 5


def test_registering_a_function_type_hook() -> None:
    """The runtime registers types.FunctionType; a fresh registration replaces it here."""
    from wdk.serde import _registry

    saved = {tag: reg for tag, reg in _registry._by_tag.items() if reg.cls is types.FunctionType}

    def sample(x: int) -> int:
        return x

    try:
        serde.register_ext(
            types.FunctionType, "test.fn", lambda f: f.__name__, lambda name: f"fn:{name}"
        )
        assert roundtrip([sample]) == ["fn:sample"]
    finally:
        for tag, reg in saved.items():
            serde.register_ext(reg.cls, tag, reg.to_data, reg.from_data, subclasses=reg.subclasses)


def test_last_registration_of_a_tag_wins() -> None:
    class A:
        pass

    class B:
        pass

    serde.register_ext(A, "test.same", lambda v: 1, lambda d: A())
    serde.register_ext(B, "test.same", lambda v: 2, lambda d: B())
    assert type(roundtrip(B())) is B
    with pytest.raises(SerializationError):
        serde.encode(A())  # A's registration was replaced


@pytest.mark.parametrize("cls", [dict, tuple, int, dt.datetime, set])
def test_built_in_types_cannot_be_registered(cls: type) -> None:
    with pytest.raises(ValueError, match="built into wdk.serde"):
        serde.register_ext(cls, "test.nope", lambda v: v, lambda d: d)


def test_register_ext_validates_arguments() -> None:
    with pytest.raises(TypeError):
        serde.register_ext("Handle", "t", lambda v: v, lambda d: d)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        serde.register_ext(Handle, "", lambda v: v, lambda d: d)
