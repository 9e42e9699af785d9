"""Ordinary workflow code runs unchanged in the sandbox; modules are fresh per sandbox."""

from __future__ import annotations

import datetime as real_datetime
import importlib.util
import sys
import types
import uuid as real_uuid
from pathlib import Path

import pytest

from conftest import FakeContext, drive, make_sandbox, run_body
from wdk.errors import SandboxError
from wdk.sandbox import SandboxConfig

WORKFLOW = '''
import json, math, re, functools, itertools, operator, string, textwrap, statistics
import collections, collections.abc, dataclasses, enum, typing, decimal, fractions, copy
import heapq, bisect, base64, hashlib, struct, abc, contextlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional
import pydantic
from pydantic import BaseModel, Field
import wdk

class Status(Enum):
    NEW = "new"
    PAID = "paid"

@dataclass
class Line:
    sku: str
    qty: int = 1
    tags: list[str] = field(default_factory=list)

class Order(BaseModel, frozen=True):
    id: str
    lines: list[dict[str, Any]] = Field(default_factory=list)
    note: Optional[str] = None

class Ticket:
    """A custom awaitable: yields its name to the driver, returns what is sent back."""
    def __init__(self, name):
        self.name = name
    def __await__(self):
        return (yield self.name)

class Pages:
    def __init__(self, n):
        self.n = n
        self.i = 0
    def __aiter__(self):
        return self
    async def __anext__(self):
        if self.i >= self.n:
            raise StopAsyncIteration
        self.i += 1
        return await Ticket(f"page{self.i}")

class Lock:
    def __init__(self):
        self.events = []
    async def __aenter__(self):
        self.events.append("enter")
        return self
    async def __aexit__(self, *exc):
        self.events.append("exit")
        return False

class Base:
    def __init__(self, x):
        self.x = x
    def total(self):
        return self.x

class Child(Base, abc.ABC):
    def __init__(self, x, y):
        super().__init__(x)
        self.y = y
    def total(self):
        return super().total() + self.y
    @property
    def double(self):
        return 2 * self.total()
    @staticmethod
    def make():
        return Child(1, 2)
    @classmethod
    def named(cls):
        return cls.__name__

counter = {"runs": 0}

def helper(values, *args, **kwargs):
    return sorted(values, *args, **kwargs)

async def wf(order_id):
    counter["runs"] += 1
    got = await Ticket("first")
    pages = [p async for p in Pages(2)]
    lock = Lock()
    async with lock as held:
        assert held is lock
    lines = [Line("a", 2), Line("b")]
    lines[0].qty += 3
    lines[1].tags += ["x"]
    d = {}
    for line in lines:
        d[line.sku] = d.get(line.sku, 0) + line.qty
    d["a"] *= 2
    counts = collections.Counter("abca")
    counts["z"] += 1
    dd = collections.defaultdict(list)
    dd["k"].append(1)
    order = Order(id=order_id, lines=[dataclasses.asdict(x) for x in lines])
    squares = {i: i * i for i in range(5) if i % 2 == 0}
    pairs = [(k, v) for k, v in sorted(d.items())]
    a, (b, *rest) = 1, (2, 3, 4)
    total = 0
    i = 0
    while i < 3:
        total += i
        i += 1
    try:
        json.loads("{bad")
    except json.JSONDecodeError as exc:
        err = type(exc).__name__
    else:
        err = None
    finally:
        cleaned = True
    def closure():
        nonlocal total
        total += 100
        return total
    closure()
    child = Child.make()
    text = f"{order.id}:{child.double:>4}|{'{}-{}'.format(1, 2)}|{'%s' % 'p'}"
    print("order", order_id, "done")
    return {
        "got": got, "pages": pages, "lock": lock.events, "d": d, "counts": dict(counts),
        "dd": dict(dd), "order": order.model_dump(), "squares": squares, "pairs": pairs,
        "unpack": [a, b, rest], "total": total, "err": err, "cleaned": cleaned,
        "text": text, "named": Child.named(), "status": Status("paid").name,
        "isinstance": isinstance(child, Base) and isinstance(Base, type) and type(child) is Child,
        "sha": hashlib.sha256(b"x").hexdigest()[:8], "math": math.floor(2.5),
        "frac": str(fractions.Fraction(1, 3) + 1), "dec": str(decimal.Decimal("1.10") * 2),
        "heap": heapq.nsmallest(2, [5, 1, 4]), "b64": base64.b64encode(b"hi").decode(),
        "re": re.sub(r"\\d", "#", "a1b2"), "chain": list(itertools.chain([1], [2])),
        "getter": operator.attrgetter("sku")(lines[0]), "partial": functools.partial(max, 0)(-1),
        "helper": helper([3, 1, 2], reverse=True), "abc": isinstance({}, collections.abc.Mapping),
        "wdk": wdk.SandboxError.__name__, "runs": counter["runs"],
        "getattr": getattr(child, "missing", "dflt"), "hasattr": hasattr(child, "x"),
    }
'''


def test_workflow_like_code_runs(tmp_path: Path, ctx: FakeContext) -> None:
    sandbox = make_sandbox({"orders": WORKFLOW}, tmp_path)
    mod = sandbox.import_module("orders")
    sent: list[str] = []

    def answer(name: str) -> str:
        sent.append(name)
        return name.upper()

    result = drive(mod.wf("o-1"), answer)
    assert sent == ["first", "page1", "page2"]
    assert result["got"] == "FIRST" and result["pages"] == ["PAGE1", "PAGE2"]
    assert result["lock"] == ["enter", "exit"]
    assert result["d"] == {"a": 10, "b": 1}
    assert result["counts"] == {"a": 2, "b": 1, "c": 1, "z": 1}
    assert result["dd"] == {"k": [1]}
    assert result["order"]["lines"][1] == {"sku": "b", "qty": 1, "tags": ["x"]}
    assert result["squares"] == {0: 0, 2: 4, 4: 16}
    assert result["unpack"] == [1, 2, [3, 4]]
    assert result["total"] == 103
    assert result["err"] == "JSONDecodeError" and result["cleaned"] is True
    assert result["text"] == "o-1:   6|1-2|p"
    assert result["named"] == "Child" and result["status"] == "PAID"
    assert result["isinstance"] is True
    assert result["sha"] == "2d711642"
    assert result["frac"] == "4/3" and result["dec"] == "2.20"
    assert result["re"] == "a#b#" and result["getter"] == "a" and result["partial"] == 0
    assert result["helper"] == [3, 2, 1] and result["abc"] is True
    assert result["wdk"] == "SandboxError" and result["runs"] == 1
    assert result["getattr"] == "dflt" and result["hasattr"] is True
    assert ctx.logs == ["order o-1 done"]


def test_fresh_module_globals_per_sandbox(tmp_path: Path, ctx: FakeContext) -> None:
    sources = {"orders": WORKFLOW}
    first = make_sandbox(sources, tmp_path).import_module("orders")
    drive(first.wf("a"), str.upper)
    drive(first.wf("b"), str.upper)
    assert first.counter == {"runs": 2}
    second = make_sandbox(sources, tmp_path).import_module("orders")
    assert second is not first and second.Line is not first.Line
    assert drive(second.wf("c"), str.upper)["runs"] == 1


def test_user_packages_and_relative_imports(tmp_path: Path, ctx: FakeContext) -> None:
    sandbox = make_sandbox(
        {
            "app/": "from .util import double\nfrom . import consts\n",
            "app.util": "from .consts import FACTOR\ndef double(x):\n    return x * FACTOR\n",
            "app.consts": "FACTOR = 2\n",
            "app.flows": (
                "import app.util\nfrom app import consts\nfrom .util import double\n"
                "async def wf(x):\n    return double(x) + app.util.double(1) + consts.FACTOR\n"
            ),
        },
        tmp_path,
    )
    mod = sandbox.import_module("app.flows")
    assert drive(mod.wf(5)) == 14
    assert set(sandbox.modules) == {"app", "app.util", "app.consts", "app.flows"}
    assert sandbox.modules["app"].util is sandbox.modules["app.util"]
    assert "app" not in sys.modules


def test_injected_names_and_module_dunders(tmp_path: Path, ctx: FakeContext) -> None:
    def step(step_id: str, closure: object = None, *, bind: object = None) -> object:
        return lambda fn: ("proxy", step_id)

    src = (
        '@__wdk_step__("step//m.py//charge")\ndef charge(amount): ...\n'
        "charge_ref = charge\nNAME = __name__\n"
    )
    sandbox = make_sandbox({"m": src}, tmp_path, injected={"__wdk_step__": step})
    mod = sandbox.import_module("m")
    assert mod.charge == ("proxy", "step//m.py//charge")
    assert mod.NAME == "m" and mod.__file__ == str(tmp_path / "src" / "m.py")


def test_step_proxy_attribute_write_is_allowed(tmp_path: Path, ctx: FakeContext) -> None:
    class Proxy:
        pass

    Proxy.__module__ = "wdk.runtime._proxies"
    src = "@__wdk_step__('s')\ndef charge(a): ...\ncharge.max_retries = 5\n"
    sandbox = make_sandbox(
        {"m": src}, tmp_path, injected={"__wdk_step__": lambda *a, **k: lambda fn: Proxy()}
    )
    assert sandbox.import_module("m").charge.max_retries == 5


def test_unknown_module_and_missing_attribute(tmp_path: Path, ctx: FakeContext) -> None:
    with pytest.raises(SandboxError, match="import nosuchmodule is not allowed"):
        run_body("import nosuchmodule", tmp_path)
    with pytest.raises(AttributeError):
        run_body("import json\njson.nope", tmp_path, name="m2")


def test_config_extra_module(tmp_path: Path, ctx: FakeContext) -> None:
    src = "import colorsys\nasync def wf():\n    return colorsys.rgb_to_hsv(1, 0, 0)\n"
    with pytest.raises(SandboxError):
        make_sandbox({"m": src}, tmp_path).import_module("m")
    config = SandboxConfig().with_allowed_modules("colorsys")
    mod = make_sandbox({"m": src}, tmp_path, config=config).import_module("m")
    assert drive(mod.wf()) == (0.0, 1.0, 1)


def test_strict_mode_guards_every_attribute(tmp_path: Path, ctx: FakeContext) -> None:
    src = "import json\nasync def wf(obj):\n    return obj.mod.dumps([1])\n"
    config = SandboxConfig().with_guard_all_attributes()
    holder = types.SimpleNamespace(mod=json_module())
    mod = make_sandbox({"m": src}, tmp_path, config=config).import_module("m")
    assert drive(mod.wf(holder)) == "[1]"  # json is allowed: its view is handed out
    holder.mod = sys
    with pytest.raises(SandboxError, match="module 'sys'"):
        drive(make_sandbox({"m": src}, tmp_path, config=config).import_module("m").wf(holder))


def json_module() -> types.ModuleType:
    import json

    return json


def test_pydantic_and_dataclass_with_future_annotations(tmp_path: Path, ctx: FakeContext) -> None:
    src = (
        "from __future__ import annotations\nfrom dataclasses import dataclass\n"
        "from pydantic import BaseModel\n"
        "@dataclass\nclass P:\n    x: int\n"
        "class M(BaseModel):\n    p: list[int]\n"
        "async def wf():\n    return P(1).x + M(p=[2]).p[0]\n"
    )
    sys.modules["futmod"] = types.ModuleType("futmod")  # the step bundle, as a worker has it
    try:
        mod = make_sandbox({"futmod": src}, tmp_path).import_module("futmod")
        assert drive(mod.wf()) == 3
    finally:
        del sys.modules["futmod"]


def test_shims(tmp_path: Path, ctx: FakeContext) -> None:
    body = """
import time, datetime, random, uuid
r = random.Random(5)
return dict(
    t=time.time(), ns=time.time_ns(), mono=time.monotonic(), gm=time.gmtime().tm_year,
    now=datetime.datetime.now(), utc=datetime.datetime.now(datetime.timezone.utc),
    today=datetime.date.today(), ctor=datetime.datetime(2020, 1, 2),
    iso=datetime.datetime.fromisoformat("2020-01-02T03:04:05"),
    inst=isinstance(datetime.datetime.now(), datetime.datetime),
    rnd=random.random(), choice=random.choice("abc"), seeded=r.random(),
    u4=uuid.uuid4(), u5=uuid.uuid5(uuid.NAMESPACE_DNS, "x"),
)
"""
    out = run_body(body, tmp_path)
    assert out["t"] == 1_700_000_000.25 and out["ns"] == 1_700_000_000_250_000_000
    assert out["mono"] == out["t"] and out["gm"] == 2023
    assert type(out["now"]) is real_datetime.datetime
    assert out["now"] == real_datetime.datetime(2023, 11, 14, 22, 13, 20, 250000)
    assert out["utc"].tzinfo is real_datetime.UTC
    assert type(out["today"]) is real_datetime.date and type(out["ctor"]) is real_datetime.datetime
    assert type(out["iso"]) is real_datetime.datetime and out["inst"] is True
    import random as real_random

    expected = real_random.Random(7)
    assert out["rnd"] == expected.random()
    assert out["choice"] == "abc"[expected._randbelow(3)]
    assert out["seeded"] == real_random.Random(5).random()
    assert isinstance(out["u4"], real_uuid.UUID) and out["u4"].version == 4
    assert out["u5"] == real_uuid.uuid5(real_uuid.NAMESPACE_DNS, "x")


@pytest.mark.skipif(
    importlib.util.find_spec("wdk.runtime.asyncio_shim") is None, reason="no asyncio shim yet"
)
def test_asyncio_maps_to_the_shim(tmp_path: Path, ctx: FakeContext) -> None:
    out = run_body("import asyncio\nreturn asyncio.gather, asyncio.CancelledError", tmp_path)
    from wdk.runtime import asyncio_shim

    assert out == (asyncio_shim.gather, asyncio_shim.CancelledError)


def test_private_helper_names_are_allowed_but_guard_shaped_names_are_not(tmp_path):
    from wdk.errors import SandboxError
    from wdk.sandbox import compile_workflow_code

    code = compile_workflow_code(
        "_TOTAL = 2\n\ndef _helper(_x):\n    _y = _x * _TOTAL\n    return _y\n\n"
        "result = _helper(21)\n",
        str(tmp_path / "private.py"),
    )
    assert code.co_filename.endswith("private.py")
    for bad in ("_getattr_ = None\n", "__import__('os')\n", "_write_ = 1\n"):
        with pytest.raises(SandboxError):
            compile_workflow_code(bad, str(tmp_path / "bad.py"))
