"""The checks placed around library code (issue 19): what they refuse, and what still works.

The escape corpus through ``wdk run`` is ``test_escapes_wdk_run.py``; this module pins the
mechanisms in-process: the audit hook's type-expression rule and its scope (workflow code
only), the backstop for an allow-listed module that does I/O, metaclass stand-ins, checked
``__init__``, and that ordinary uses of the same features keep working.
"""

from __future__ import annotations

import ast
import decimal
import json
import os
import re
import sys
import textwrap
import types
import typing
from pathlib import Path

import pydantic
import pytest

from conftest import FakeContext, drive, make_sandbox
from wdk.errors import SandboxError
from wdk.sandbox import BundleSource, SandboxConfig, WorkflowSandbox
from wdk.sandbox._audit import check_type_expression
from wdk.sandbox._library import walk_aliases


def run_module(src: str, tmp_path: Path, **kwargs: object) -> object:
    sandbox = make_sandbox({"m": src}, tmp_path, **kwargs)
    return drive(sandbox.import_module("m").wf())


@pytest.mark.parametrize(
    "text",
    ["int", "list[int]", "int | None", "typing.Optional['Item']", "Literal['a', -1]",
     "dict[str, tuple[int, ...]]", "_Private", "pkg.mod.Type"],
)  # fmt: skip
def test_type_expressions_pass(text: str) -> None:
    assert check_type_expression(ast.parse(text, mode="eval")) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("__import__('os')", "call"),
        ("().__class__", "'__class__'"),
        ("x.gi_frame", "'gi_frame'"),
        ("[c for c in x]", "listcomp"),
        ("lambda: 1", "lambda"),
        ("a + b", "only |"),
        ("__builtins__", "'__builtins__'"),
    ],
)
def test_other_expressions_fail(text: str, why: str) -> None:
    reason = check_type_expression(ast.parse(text, mode="eval"))
    assert reason is not None and why in reason


def test_hook_checks_only_under_workflow_code(tmp_path: Path, ctx: FakeContext) -> None:
    """Step code and the rest of the process compile and alias as they like."""
    run_module("async def wf():\n    return 1\n", tmp_path)  # installs the hook
    code = compile("__import__('json').dumps([1])", "<step>", "eval")
    assert eval(code) == "[1]"  # noqa: S307 - the point: not workflow code, not refused

    class Doc(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(from_attributes=True)
        id: int = pydantic.Field(validation_alias="_id")

    assert Doc.model_validate({"_id": 3}).id == 3


def test_refusal_leaves_the_decimal_context_alone(tmp_path: Path, ctx: FakeContext) -> None:
    before = decimal.getcontext().prec
    src = "import decimal\nasync def wf():\n    decimal.getcontext().__init__(prec=3)\n"
    with pytest.raises(SandboxError, match=r"m\.py:3: calling __init__\(\) on a decimal"):
        run_module(src, tmp_path)
    assert decimal.getcontext().prec == before


def test_allowed_module_doing_io_hits_the_backstop(
    tmp_path: Path, ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "leakymod.py").write_text(
        "import os\n"
        "def touch(p):\n    open(p, 'w').close()\n"
        "def env():\n    return os.environ.get('HOME')\n"
    )
    monkeypatch.syspath_prepend(str(lib))
    marker = tmp_path / "MARKER"
    config = SandboxConfig().with_allowed_modules("leakymod")
    src = f"import leakymod\nasync def wf():\n    leakymod.touch({str(marker)!r})\n"
    with pytest.raises(SandboxError, match=r"m\.py:3: the operation open .* 'use step'"):
        run_module(src, tmp_path, config=config)
    assert not marker.exists()
    sys.modules["leakymod"].touch(str(marker))  # the same call outside workflow code works
    assert marker.exists()


def test_walk_aliases_finds_nested_paths() -> None:
    schema = {"type": "model", "schema": {"fields": {"a": {"validation_alias": [["x", 0]]}}}}
    assert walk_aliases(schema) is None
    schema["schema"]["fields"]["a"]["validation_alias"] = [["x"], ["y", "__dict__"]]
    assert walk_aliases(schema) == "__dict__"


WORKS = """
import abc, collections.abc, dataclasses, decimal, enum, functools, json, typing, pydantic

class Shape(metaclass=abc.ABCMeta):
    @abc.abstractmethod
    def area(self): ...

class Square(Shape):
    def __init__(self, side):
        super().__init__()
        self.side = side
    def area(self):
        return self.side ** 2

class Oops(ValueError):
    def __init__(self, msg):
        ValueError.__init__(self, msg)

@dataclasses.dataclass
class P:
    x: int
    def __post_init__(self):
        self.x += 1

@functools.total_ordering
class V:
    def __init__(self, n):
        self.n = n
    def __eq__(self, o):
        return self.n == o.n
    def __lt__(self, o):
        return self.n < o.n

class Box(collections.abc.Sized):
    def __len__(self):
        return 2

class MyABC(abc.ABC):
    pass

MyABC.register(Square)

def deco(fn):
    @functools.wraps(fn)
    def inner(*a):
        return fn(*a)
    return inner

@deco
def half(x):
    return x / 2

async def wf():
    K = abc.ABCMeta("K", (Shape,), {"area": lambda self: 7, "__repr__": lambda self: "K"})
    T = enum.Enum("T", [("a", 1), ("b", 2)])
    Pt = dataclasses.make_dataclass("Pt", [("x", int)], namespace={"norm": lambda s: s.x})
    M = pydantic.create_model("M", a=(int, 1))
    with decimal.localcontext(prec=3):
        third = str(decimal.Decimal(1) / decimal.Decimal(3))
    return [
        Square(3).area(), K().area(), repr(K()), isinstance(K(), Shape),
        isinstance(abc.ABCMeta, type), isinstance(Shape, abc.ABCMeta),
        issubclass(Shape, abc.ABC) is False, str(Oops("x")), P(1).x, V(1) <= V(2),
        len(Box()), isinstance(Square(1), MyABC), half.__name__, half(4), T.b.value,
        Pt(5).norm(), M().a, third, typing.get_origin(typing.List[int]) is list,
    ]
"""


def test_ordinary_uses_still_work(tmp_path: Path, ctx: FakeContext) -> None:
    result = run_module(textwrap.dedent(WORKS), tmp_path)
    assert result == [
        9, 7, "K", True, True, True, True, "x", 2, True, 2, True, "half", 2.0, 2, 5, 1,
        "0.333", True,
    ]  # fmt: skip


def test_json_is_untouched_by_the_corpus() -> None:
    """The corpus's shared-state attempts are refused before they write (sanity check)."""
    assert json.dumps.__module__ == "json" and not hasattr(json.dumps, "__final__")


NAMES = """
import os
import typing, typing_extensions, pydantic

CONFIG = {"a": 1}


async def pid():
    "use step"
    return os.getpid()


class Leaf(pydantic.BaseModel):
    name: str


class Node(pydantic.BaseModel):
    children: "list[Node]" = []
    tag: "typing.Optional[Leaf]" = None


async def wf(text):
    class K:
        z: text
    return typing_extensions.get_annotations(K, eval_str=True)["z"]
"""


def _bundle() -> str:
    """What the compiler makes of NAMES for the sandbox: the step's import and body pruned."""
    return NAMES.replace("import os\n", "\n").replace("    return os.getpid()", "    return 0")


@pytest.fixture
def names_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, types.ModuleType]:
    """The user's file on disk, and a real module of the same name (as a step bundle)."""
    path = tmp_path / "src" / "names.py"
    path.parent.mkdir(parents=True)
    path.write_text(NAMES)
    real = types.ModuleType("names")

    class Leaf(pydantic.BaseModel):  # the step bundle's copy of the class
        name: str

    Leaf.__module__, Leaf.__qualname__ = "names", "Leaf"
    real.__dict__.update(CONFIG={"a": 1}, typing=typing, os=os, Leaf=Leaf)
    monkeypatch.setitem(sys.modules, "names", real)
    return path, real


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("typing", "typing is a module, not a type"),
        ("typing.sys", "typing.sys is the module 'sys'"),
        ("os", "the name 'os' is not defined in workflow code here"),
        ("CONFIG", "CONFIG means something else outside the sandbox"),
    ],
)
def test_evaluated_names_must_mean_the_same_outside(
    text: str, why: str, names_module: tuple[Path, types.ModuleType], ctx: FakeContext
) -> None:
    path, _ = names_module
    sandbox = WorkflowSandbox({"names": BundleSource(_bundle(), str(path))}.get)
    with pytest.raises(SandboxError, match=re.escape(why)):
        drive(sandbox.import_module("names").wf(text))


def test_forward_and_library_names_still_resolve(
    names_module: tuple[Path, types.ModuleType], ctx: FakeContext
) -> None:
    path, _ = names_module
    sandbox = WorkflowSandbox({"names": BundleSource(_bundle(), str(path))}.get)
    mod = sandbox.import_module("names")
    assert drive(mod.wf("typing.Optional[int]")) == typing.Optional[int]  # noqa: UP045
    node = mod.Node.model_validate({"children": [{"children": []}], "tag": {"name": "x"}})
    assert node.children[0].children == [] and node.tag.name == "x"
