"""Values that cannot cross a durable boundary: the error names the path, type and a fix."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import sys
import threading
from typing import Any

import pytest
import serde_models as m

from wdk import serde
from wdk.errors import SerializationError


def _generator() -> Any:
    yield 1


class _Tz(dt.tzinfo):
    def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=1)


class _MyDict(dict[str, int]):
    pass


class _MyStr(str):
    pass


def _local_dataclass() -> Any:
    @dataclasses.dataclass
    class Local:
        x: int

    return Local(1)


def _local_function() -> Any:
    def inner() -> None:
        pass

    return inner


def _error(value: Any, path: str = "args") -> SerializationError:
    with pytest.raises(SerializationError) as info:
        serde.encode(value, path=path)
    return info.value


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda: threading.Lock(), "_thread.lock"),
        (lambda: io.BytesIO(), "_io.BytesIO"),
        (lambda: open(__file__), "_io.TextIOWrapper"),  # noqa: SIM115
        (lambda: sys, "module"),
        (lambda: _generator(), "generator"),
        (lambda: object(), "object"),
        (lambda: _MyDict(a=1), "test_serde_errors._MyDict"),
        (lambda: _MyStr("x"), "test_serde_errors._MyStr"),
        (lambda: int, "type"),
        (lambda: _local_dataclass(), "test_serde_errors._local_dataclass.<locals>.Local"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_values_name_path_and_type(make: Any, type_name: str) -> None:
    value = make()
    try:
        err = _error((1, {"client": value}))
    finally:
        if hasattr(value, "close"):
            value.close()
    assert err.path == 'args[1]["client"]'
    assert err.type_name == type_name
    assert str(err).startswith(f'wdk cannot serialize args[1]["client"] of type {type_name}: ')


@pytest.mark.parametrize("make", [lambda: lambda: 0, _local_function, lambda: print])
def test_functions_are_refused_with_the_path(make: Any) -> None:
    err = _error([{"fn": make()}])
    assert err.path == 'args[0]["fn"]'
    assert 'args[0]["fn"]' in str(err)
    assert "step" in str(err)


def test_generic_message_says_what_to_do() -> None:
    err = _error({"client": threading.Lock()})
    assert "dataclasses" in str(err) and "pydantic models" in str(err)
    assert "Construct it inside a step, or pass a step-wrapped factory." in str(err)


def test_local_class_message_says_to_move_it() -> None:
    err = _error([_local_dataclass()])
    assert "defined inside a function" in str(err) and "module level" in str(err)


def test_default_root_path_is_value() -> None:
    with pytest.raises(SerializationError) as info:
        serde.encode([object()])
    assert info.value.path == "value[0]"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (m.Box(m.Box(threading.Lock())), "args.value.value"),
        (m.Model(name="x", items=[1, threading.Lock()]), "args.items[1]"),
        (m.Point(1, threading.Lock()), "args.y"),
        ((1, (2, threading.Lock())), "args[1][1]"),
        ({threading.Lock(): 1}, "args<key 0>"),
        ({1: {2: [threading.Lock()]}}, "args[1][2][0]"),
        ({"a": frozenset({(1, threading.Lock())})}, 'args["a"]<element 0>[1]'),
        (ValueError("x", threading.Lock()), "args.args[1]"),
        ([dt.datetime(2024, 1, 1, tzinfo=_Tz())], "args[0]"),
    ],
)
def test_path_into_nested_values(value: Any, path: str) -> None:
    err = _error(value)
    assert err.path == path
    assert f"wdk cannot serialize {path} of type " in str(err)


def test_exception_field_path() -> None:
    exc = m.KwOnlyError("m", code=1)
    exc.client = threading.Lock()  # type: ignore[attr-defined]
    assert _error(exc).path == "args.client"


def test_unsupported_tzinfo_says_which_zones_work() -> None:
    err = _error(dt.time(1, tzinfo=_Tz()))
    assert "zoneinfo.ZoneInfo" in str(err) and "datetime.timezone" in str(err)


def test_defaultdict_with_a_function_factory_is_refused() -> None:
    import collections

    err = _error([collections.defaultdict(lambda: 0)])
    assert err.path == "args[0]" and "default_factory" in str(err)


def test_reference_cycle_is_reported() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    err = _error(loop)
    assert err.path == 'args[1]["again"]'
    assert "reference cycle" in str(err)


def test_failing_hook_is_reported_at_its_path() -> None:
    class Boom:
        pass

    def to_data(value: Boom) -> Any:
        raise RuntimeError("no way")

    serde.register_ext(Boom, "test.boom", to_data, lambda d: Boom())
    err = _error({"x": [Boom()]})
    assert err.path == 'args["x"][0]'
    assert "RuntimeError: no way" in str(err)
    assert isinstance(err.__cause__, RuntimeError)


def test_hook_data_is_walked_for_the_path() -> None:
    class Holder:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    serde.register_ext(Holder, "test.holder", lambda h: {"inner": h.inner}, lambda d: Holder(d))
    err = _error([Holder(threading.Lock())])
    assert err.path == 'args[0]["inner"]'


def test_serialization_error_itself_round_trips() -> None:
    err = _error([object()])
    out = serde.decode(serde.encode(err))
    assert type(out) is SerializationError
    assert (out.path, out.type_name, str(out)) == (err.path, err.type_name, str(err))
