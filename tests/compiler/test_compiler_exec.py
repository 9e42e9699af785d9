"""Run generated bundles with a fake ``__wdk_step__`` to check what the proxies receive."""

from __future__ import annotations

import asyncio
import builtins
import types
from pathlib import Path
from typing import Any

from wdk.compiler import compile_source

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compiler"


class FakeStep:
    def __init__(self, step_id: str, closure: Any = None, bind: str | None = None) -> None:
        self.step_id, self.closure, self.bind = step_id, closure, bind
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def captured(self) -> dict[str, Any]:
        return dict(self.closure()) if self.closure else {}

    async def __call__(self, *args: Any) -> Any:
        self.calls.append((args, self.captured()))
        return (self.step_id, args)


def _fake_step(step_id: str, closure: Any = None, *, bind: str | None = None) -> Any:
    def decorate(fn: Any) -> FakeStep:
        return FakeStep(step_id, closure, bind)

    return decorate


def _exec_workflow_bundle(case: str, relpath: str, module: str) -> dict[str, Any]:
    source = (FIXTURES / case / "src" / relpath).read_text()
    result = compile_source(source, relpath=relpath, module=module)
    assert result.ok, result.diagnostics

    async def sleep(_: Any) -> None:
        return None

    fake_wdk = types.SimpleNamespace(sleep=sleep, FatalError=RuntimeError)
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return fake_wdk if name == "wdk" else real_import(name, *args, **kwargs)

    env: dict[str, Any] = {
        "__builtins__": {**vars(builtins), "__import__": fake_import},
        "__wdk_step__": _fake_step,
        "__name__": module,
    }
    exec(compile(result.workflow_bundle, relpath, "exec"), env)
    return env


def test_nested_steps_read_captures_lazily() -> None:
    env = _exec_workflow_bundle("nested_closures", "closures.py", "closures")
    out = asyncio.run(env["pipeline"]([1, 2], 3))
    assert out[0] == ("step//closures.py//pipeline/scale", (1,))
    assert out[-1] == ("step//closures.py//pipeline/total", ())
    get, inner = env["make_client"]("https://example.com/")
    assert isinstance(get, FakeStep) and get.captured() == {"prefix": "https://example.com"}
    assert inner.captured() == {"base_url": "https://example.com/", "prefix": "https://example.com"}


def test_late_assignment_and_comprehension_captures() -> None:
    env = _exec_workflow_bundle("nested_closures", "closures.py", "closures")
    seen: list[FakeStep] = []
    original = env["__wdk_step__"]

    def recording(step_id: str, closure: Any = None, *, bind: str | None = None) -> Any:
        def decorate(fn: Any) -> FakeStep:
            step = original(step_id, closure, bind=bind)(fn)
            seen.append(step)
            return step

        return decorate

    env["__wdk_step__"] = recording
    asyncio.run(env["pipeline"]([1, 2], 3))
    scale, total = seen[:2]
    assert scale.calls[0][1] == {"factor": 3, "offset": 10}  # assigned after the def
    assert total.calls[0][1] == {"factor": 3, "items": [1, 2]}  # used in a comprehension only


def test_alias_and_step_arguments_are_proxies() -> None:
    env = _exec_workflow_bundle("aliases_and_args", "payments.py", "payments")
    assert env["pay"] is env["charge"]
    assert isinstance(env["charge"], FakeStep)
    assert env["charge"].max_retries == 5  # the module-level assignment reaches the proxy
    result = asyncio.run(env["checkout"](2.0))
    assert result[0] == ("step//payments.py//charge", (2.0,))
    assert result[1:] == ["step//payments.py//run_both", (env["charge"], env["refund"], 2.0)]


def test_methods_get_bind() -> None:
    env = _exec_workflow_bundle("methods", "cart.py", "cart")
    cart = env["Cart"]
    attrs = {name: vars(cart)[name] for name in ("make", "empty", "total")}
    assert {n: (s.step_id, s.bind) for n, s in attrs.items()} == {
        "make": ("step//cart.py//Cart.make", "static"),
        "empty": ("step//cart.py//Cart.empty", "class"),
        "total": ("step//cart.py//Cart#total", "instance"),
    }


def test_step_bundle_wraps_workflows() -> None:
    source = (FIXTURES / "step_factory" / "src" / "factory.py").read_text()
    result = compile_source(source, relpath="factory.py", module="factory")
    stubs: dict[str, Any] = {}
    fake_runtime = types.SimpleNamespace(
        workflow_stub=lambda ident, fn: stubs.setdefault(ident, fn)
    )
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return fake_runtime if name == "wdk.runtime" else real_import(name, *args, **kwargs)

    env: dict[str, Any] = {"__builtins__": {**vars(builtins), "__import__": fake_import}}
    exec(compile(result.step_bundle, "factory.py", "exec"), env)
    assert list(stubs) == ["workflow//factory.py//adds"]
    add5 = asyncio.run(env["make_adder"](5))  # steps stay plain functions
    assert asyncio.run(add5(1)) == 6
    assert add5.__code__.co_freevars == ("n",)
