"""The third escape corpus, run the way a user runs workflows: ``wdk run`` in a project dir.

Each attempt is workflow code whose goal is to create a marker file (``os.system('touch ...')``
or ``open(..., 'w')``), read the real environment, or change state shared with other runs. Each
gets its own project directory and its own ``wdk run`` subprocess (all started at once by a
module fixture, a few at a time); each test then asserts that the marker does not exist, that
the run failed (exit 1), and that the message names the refused operation.

Classes (issue 19): library code that evaluates strings, attribute-copying helpers, classes made
at run time, bound dunder methods of library objects, and others (pickling, generators,
tracebacks, exception groups, ``re`` callbacks, an allow-listed module that does I/O).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

# The module fixture starts every ``wdk run`` before the first test: ~1.5 s each, four at a time.
pytestmark = pytest.mark.timeout(600)

WDK = str(Path(sys.executable).with_name("wdk"))
SECRET = "wdk-escape-secret-7f3a"

PRELUDE = """\
import os
import abc, collections, collections.abc, copy, dataclasses, decimal, enum, functools, json
import operator, re, typing, typing_extensions, pydantic

SYSTEM = "__import__('os').system('touch {marker}')"
SUBS = ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "[0].__init__.__globals__['system']('touch {marker}')")
ENV = "__import__('os').environ['WDK_ESCAPE_SECRET']"


def f(*args):
    return 1


async def add(a):
    "use step"
    return a + 1


async def pid():
    "use step"
    return os.getpid()  # so the step bundle, not the workflow bundle, imports os


class Holder:
    def __init__(self):
        self.a = 1


class Grab:
    '''Answers every attribute read with the same dict (a target for ``updated=``).'''

    def __init__(self):
        self.box = {{}}

    def __getattr__(self, name):
        return self.box


def from_attributes_model(alias):
    class M(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(from_attributes=True)
        value: object = pydantic.Field(validation_alias=alias)

    return M


async def wf():
    "use workflow"
"""


@dataclass(frozen=True)
class Attempt:
    """One escape attempt: its body (inside ``wf``) and a fragment of the expected message."""

    name: str
    body: str
    refused: str


_EVAL = "library code compiles the string"
_NS = "in the class namespace is not allowed"
_INIT = "on a decimal.Context object is not allowed"
_ALIAS = "the pydantic alias or field name"

ATTEMPTS: list[Attempt] = [
    # -- library code that evaluates strings ---------------------------------------------
    Attempt(
        "singledispatch-register",
        "fd = functools.singledispatch(f)\ndef g(a: SYSTEM):\n    return 0\nfd.register(g)",
        _EVAL,
    ),
    Attempt(
        "singledispatch-register-subclasses",
        "fd = functools.singledispatch(f)\n@fd.register\ndef g(a: SUBS):\n    return 0",
        _EVAL,
    ),
    Attempt("pydantic-create-model", "pydantic.create_model('M', a=(SYSTEM, ...))", _EVAL),
    Attempt(
        "pydantic-model-runtime-annotation",
        "class M(pydantic.BaseModel):\n    a: SYSTEM",
        _EVAL,
    ),
    Attempt("pydantic-typeadapter-string", "pydantic.TypeAdapter(SUBS)", _EVAL),
    Attempt("typing-list-forward-ref", "pydantic.TypeAdapter(typing.List[SYSTEM])", _EVAL),
    Attempt("typing-forward-ref", "typing.ForwardRef(ENV)", _EVAL),
    Attempt("typing-union-string", "typing.Union[SYSTEM, int]", _EVAL),
    Attempt("typing-optional-string", "typing.Optional[SUBS]", _EVAL),
    Attempt(
        "pydantic-validate-call",
        "@pydantic.validate_call\ndef g(a: SYSTEM):\n    return a\ng(1)",
        _EVAL,
    ),
    Attempt("typing-namedtuple-string-type", "typing.NamedTuple('N', [('a', SYSTEM)])", _EVAL),
    Attempt("typing-typeddict-string-type", "typing.TypedDict('T', {'a': SYSTEM})", _EVAL),
    Attempt(
        "dataclass-field-name-injection",
        "T = typing.TypedDict('T', {'a=' + SYSTEM + ', b': int})\ndataclasses.dataclass(T)",
        "modifying the class 'T' is not allowed",
    ),
    Attempt(
        "make-dataclass-field-name-injection",
        "dataclasses.make_dataclass('D', [('a=' + SYSTEM, int)])",
        "must be identifiers",
    ),
    Attempt(
        "namedtuple-field-name-injection",
        "collections.namedtuple('N', ['a', SYSTEM])",
        "must be valid identifiers",
    ),
    Attempt(
        "annotation-evaluated-in-the-real-module",
        "class K:\n    z: 'typing.sys'\n"
        "typing_extensions.get_annotations(K, eval_str=True)['z'].modules['os']"
        ".system('touch {marker}')",
        "typing.sys is the module 'sys', which workflow code may not use",
    ),
    Attempt(
        "annotation-name-only-in-the-step-bundle",
        "class K:\n    z: 'os'\n"
        "typing_extensions.get_annotations(K, eval_str=True)['z'].system('touch {marker}')",
        "the name 'os' is not defined in workflow code here",
    ),
    Attempt(
        "annotation-names-a-real-module",
        "class K:\n    z: 'typing'\n"
        "real = typing_extensions.get_annotations(K, eval_str=True)['z']\n"
        "real.sys.modules['os'].system('touch {marker}')",
        "typing is a module, not a type",
    ),
    Attempt(
        "forward-ref-in-another-module",
        "sysmod = 1\nref = typing.ForwardRef('sysmod', module='typing')",
        "typing.ForwardRef(..., module='typing') is not allowed",
    ),
    Attempt(
        "pydantic-annotation-resolved-in-the-step-bundle",
        "class K(pydantic.BaseModel):\n"
        "    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)\n"
        "    x: 'typing.Optional[os.PathLike]' = None\n"
        "return str(K.model_fields['x'].annotation)",
        "the name 'os' is not defined in workflow code here",
    ),
    Attempt("enum-functional-dunder", "enum.Enum('E', [('__del__', f)])", "the enum member"),
    Attempt("enum-functional-names", "enum.Enum('E', '__init_subclass__ b')", "the enum member"),
    # -- attribute-copying helpers --------------------------------------------------------
    Attempt(
        "update-wrapper-updated-globals",
        "g = Grab()\n"
        "functools.update_wrapper(g, json.dumps, assigned=(), updated=('__globals__',))\n"
        "g.box['__builtins__']['__import__']('os').system('touch {marker}')",
        "the attribute '__globals__' is not allowed",
    ),
    Attempt(
        "update-wrapper-assigned-code",
        "functools.update_wrapper(Holder(), json.dumps, assigned=('__code__',), updated=())",
        "the attribute '__code__' is not allowed",
    ),
    Attempt(
        "wraps-assigned-globals",
        "functools.wraps(json.dumps, assigned=('__globals__',), updated=())(Holder())",
        "the attribute '__globals__' is not allowed",
    ),
    Attempt(
        "update-wrapper-onto-library-function",
        "functools.update_wrapper(json.dumps, f)",
        "modifying a function object is not allowed",
    ),
    Attempt(
        "pydantic-from-attributes-alias-path",
        "M = from_attributes_model(pydantic.AliasPath('__init__', '__globals__', '__builtins__',"
        " 'open', '__globals__', '__builtins__', '__import__'))\n"
        "M.model_validate(Holder()).value('os').system('touch {marker}')",
        _ALIAS,
    ),
    Attempt(
        "pydantic-alias-choices",
        "M = from_attributes_model(pydantic.AliasChoices('__class__', 'a'))\n"
        "M.model_validate(Holder())",
        _ALIAS,
    ),
    Attempt(
        "pydantic-alias-generator",
        "class M(pydantic.BaseModel):\n"
        "    model_config = pydantic.ConfigDict(from_attributes=True,\n"
        "                                       alias_generator=lambda n: '__' + n + '__')\n"
        "    init: object\n"
        "M.model_validate(Holder())",
        _ALIAS,
    ),
    Attempt(
        "generator-frame-via-alias",
        "def gen():\n    yield 1\n"
        "h = Holder()\nh.a = gen()\n"
        "M = from_attributes_model(pydantic.AliasPath('a', 'gi_frame', 'f_back', 'f_globals'))\n"
        "M.model_validate(h)",
        "gi_frame",
    ),
    Attempt(
        "traceback-via-alias",
        "try:\n    1 / 0\nexcept ZeroDivisionError as exc:\n"
        "    M = from_attributes_model(pydantic.AliasPath('__traceback__', 'tb_frame'))\n"
        "    M.model_validate(exc)",
        _ALIAS,
    ),
    # -- classes made at run time ---------------------------------------------------------
    Attempt(
        "abcmeta-getattribute",
        "abc.ABCMeta('K', (), {'__getattribute__': f})",
        _NS,
    ),
    Attempt("abcmeta-del", "abc.ABCMeta('K', (), {'__del__': f})()", _NS),
    Attempt(
        "generic-meta-is-type",
        "typing_extensions.GenericMeta('K', (), {'__reduce__': f})",
        _NS,
    ),
    Attempt("enummeta-set-name", "enum.EnumMeta('E', (), {'__set_name__': f})", _NS),
    Attempt(
        "abcmeta-annotations-injection",
        "K = abc.ABCMeta('K', (), {'__annotations__': {'a=' + SYSTEM: int}})\n"
        "dataclasses.dataclass(K)",
        "must be identifiers",
    ),
    Attempt(
        "make-dataclass-namespace",
        "dataclasses.make_dataclass('D', ['a'], namespace={'__init_subclass__': f})",
        _NS,
    ),
    Attempt(
        "class-getitem-via-namespace",
        "abc.ABCMeta('K', (), {'__class_getitem__': f})",
        _NS,
    ),
    Attempt(
        "type-of-abc-class",
        "class A(abc.ABC):\n    pass\ntype(A)('K', (), {'__del__': f})",
        "a metaclass can create classes",
    ),
    Attempt(
        "metaclass-subclass",
        "class Meta(abc.ABCMeta):\n    pass\nMeta('K', (), {'__del__': f})",
        "defining metaclasses is not allowed",
    ),
    Attempt(
        "pickling-reduce",
        "K = abc.ABCMeta('K', (), {'__reduce_ex__': lambda self, p: (f, ())})\ncopy.copy(K())",
        _NS,
    ),
    # -- checks answered by workflow-defined objects (read once, as plain values) ---------
    Attempt(
        "namespace-dict-subclass-hides-a-key",
        "class D(dict):\n    def __iter__(self):\n        return iter(['x'])\n"
        "ns = D()\nns['x'] = 1\nns['__del__'] = f\nabc.ABCMeta('K', (), ns)",
        _NS,
    ),
    Attempt(
        "alias-str-subclass-lies",
        "class S(str):\n    def startswith(self, p):\n        return False\n"
        "M = from_attributes_model(S('__init__'))",
        _ALIAS,
    ),
    Attempt(
        "make-dataclass-field-changes-between-reads",
        "class Flip:\n    def __getitem__(self, i):\n        return 'a'\n"
        "    def __iter__(self):\n        return iter(['a=' + SYSTEM, int])\n"
        "    def __len__(self):\n        return 2\n"
        "dataclasses.make_dataclass('D', [Flip()])",
        "must be identifiers",
    ),
    # -- bound dunder methods of library objects ------------------------------------------
    Attempt("decimal-context-init", "decimal.getcontext().__init__(prec=3)", _INIT),
    Attempt(
        "decimal-context-unbound-init",
        "decimal.Context.__init__(decimal.getcontext(), prec=3)",
        _INIT,
    ),
    Attempt(
        "decimal-super-init",
        "super(decimal.Context, decimal.getcontext()).__init__()",
        _INIT,
    ),
    Attempt("step-proxy-init", "add.__init__(f)", "calling __init__() on a wdk."),
    Attempt(
        "dataclass-init-on-library-object",
        "@dataclasses.dataclass\nclass D:\n    prec: int\nD.__init__(decimal.getcontext(), 3)",
        _INIT,
    ),
    # -- library state shared by every run ----------------------------------------------
    Attempt(
        "create-model-validators-namespace",
        "pydantic.create_model('M', a=(int, 1), __validators__={'__del__': f})",
        _NS,
    ),
    Attempt(
        "enum-global-enum-into-json",
        "E = enum.Enum('E', 'dumps loads', module='json')\nenum.global_enum(E)",
        "enum.global_enum is not allowed",
    ),
    Attempt(
        "dataclass-on-library-class",
        "dataclasses.dataclass(json.JSONEncoder)",
        "modifying the class 'JSONEncoder' is not allowed",
    ),
    Attempt(
        "abc-register-on-library-abc",
        "collections.abc.Sequence.register(Holder)",
        "modifying the class 'Sequence' is not allowed",
    ),
    Attempt(
        "typing-final-on-library-function",
        "typing.final(json.dumps)",
        "modifying a function object is not allowed",
    ),
    Attempt("typing-clear-overloads", "typing.clear_overloads()", "typing.clear_overloads"),
    Attempt(
        "decimal-default-context",
        "decimal.DefaultContext.clear_traps()",
        "decimal.DefaultContext is not allowed",
    ),
    Attempt(
        "pydantic-import-string-environ",
        "return dict(pydantic.TypeAdapter(pydantic.ImportString).validate_python('os:environ'))",
        "pydantic.ImportString is not allowed",
    ),
    Attempt(
        "pydantic-file-path",
        "return str(pydantic.TypeAdapter(pydantic.FilePath).validate_python('/etc/hostname'))",
        "pydantic.FilePath is not allowed",
    ),
    # -- others ---------------------------------------------------------------------------
    Attempt("exc-info", "import sys\nsys.exc_info()", "import sys is not allowed"),
    Attempt("weakref-callback", "import weakref\nweakref.ref(Holder(), f)", "import weakref"),
    Attempt(
        "exception-group-star",
        "try:\n    raise ExceptionGroup('g', [ValueError()])\nexcept* ValueError:\n    pass",
        "TryStar",
    ),
    Attempt(
        "re-callback-attrgetter",
        "re.sub('a', operator.attrgetter('__class__'), 'a')",
        "the attribute '__class__' is not allowed",
    ),
    Attempt("allowed-module-writes-a-file", "leaky.touch('{marker}')", "the operation open"),
    Attempt(
        "allowed-module-runs-a-command",
        "leaky.run('touch {marker}')",
        "the operation os.system",
    ),
]

LEAKY = """
import os


def touch(path):
    with open(path, "w") as fh:
        fh.write("escaped")


def run(command):
    return os.system(command)
"""

CONTROL = """\
import abc, dataclasses, decimal, enum, functools, typing, pydantic


class Base(abc.ABC):
    @abc.abstractmethod
    def total(self): ...


@dataclasses.dataclass
class Line(Base):
    qty: int
    price: "decimal.Decimal"

    def total(self):
        return self.qty * self.price


class Item(pydantic.BaseModel):
    sku: str


class Order(pydantic.BaseModel):
    lines: list[Item] = []
    note: typing.Optional[str] = pydantic.Field(default=None, validation_alias="memo")


class Err(Exception):
    def __init__(self, msg):
        super().__init__(msg)


def deco(fn):
    @functools.wraps(fn)
    def inner(*a):
        return fn(*a)
    return inner


@deco
def double(x):
    return 2 * x


async def wf():
    "use workflow"
    Color = enum.Enum("Color", "red green")
    Kind = abc.ABCMeta("Kind", (), {"describe": lambda self: "k"})
    Point = dataclasses.make_dataclass("Point", ["x", "y"])
    fd = functools.singledispatch(lambda v: "other")
    fd.register(int, lambda v: "int")
    order = Order.model_validate({"lines": [{"sku": "a"}], "memo": "hi"})
    hint = pydantic.TypeAdapter(typing.List["int"]).validate_python(["1"])
    with decimal.localcontext(prec=4):
        ratio = str(decimal.Decimal(1) / decimal.Decimal(3))
    return [Color.red.name, Kind().describe(), Point(1, 2).y, fd(3), order.lines[0].sku,
            order.note, hint, ratio, str(Line(2, decimal.Decimal("1.5")).total()),
            str(Err("x")), double(4)]
"""


DECIMAL_ISOLATION = """\
import asyncio, decimal, operator


async def probe():
    "use step"
    traps = decimal.getcontext().traps
    return [traps[decimal.DivisionByZero], traps[decimal.Inexact], decimal.getcontext().prec]


async def child():
    return [decimal.getcontext().traps[decimal.DivisionByZero], decimal.getcontext().prec]


async def wf():
    "use workflow"
    ctx = decimal.getcontext()
    ctx.clear_traps()
    operator.setitem(ctx.traps, decimal.Inexact, True)
    in_child = await asyncio.create_task(child())
    in_step = await probe()
    return [ctx.traps[decimal.DivisionByZero], in_child, in_step]
"""


@dataclass(frozen=True)
class Outcome:
    """What one ``wdk run`` did."""

    returncode: int
    stdout: str
    stderr: str
    marker: Path


def _project(root: Path, name: str, source: str) -> Path:
    project = root / name
    project.mkdir()
    (project / "esc.py").write_text(source, encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[tool.wdk]\nsandbox-allowed-modules = ["leaky"]\n', encoding="utf-8"
    )
    return project


def _wdk_run(project: Path, lib: Path) -> Outcome:
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_ESCAPE_SECRET=SECRET)
    env.pop("WDK_WORLD", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (env.get("PYTHONPATH", ""), str(lib)) if p
    )  # the worktree's src (when set) stays first
    result = subprocess.run(
        [WDK, "run", "esc:wf"], cwd=project, env=env, capture_output=True, text=True, timeout=180
    )
    return Outcome(result.returncode, result.stdout, result.stderr, project / "MARKER")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("escapes")
    lib = root / "lib"
    lib.mkdir()
    (lib / "leaky.py").write_text(LEAKY, encoding="utf-8")
    projects: dict[str, Path] = {}
    for attempt in ATTEMPTS:
        marker = str(root / attempt.name / "MARKER")
        body = textwrap.indent(attempt.body.replace("{marker}", marker), "    ")
        prelude = PRELUDE.format(marker=marker)
        if "leaky." in attempt.body:
            prelude = "import leaky\n" + prelude
        projects[attempt.name] = _project(root, attempt.name, prelude + body + "\n")
    projects["control"] = _project(root, "control", CONTROL)
    projects["decimal-isolation"] = _project(root, "decimal-isolation", DECIMAL_ISOLATION)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_wdk_run, p, lib) for name, p in projects.items()}
        return {name: fut.result() for name, fut in futures.items()}


def test_corpus_is_large_enough() -> None:
    assert len(ATTEMPTS) >= 30
    assert len({a.name for a in ATTEMPTS}) == len(ATTEMPTS)


def test_control_workflow_runs(outcomes: dict[str, Outcome]) -> None:
    """The same features used as intended still work (the corpus fails for its bodies)."""
    out = outcomes["control"]
    assert out.returncode == 0, out.stderr
    assert '"red"' in out.stdout and '"0.3333"' in out.stdout and '"3.0"' in out.stdout


def test_decimal_context_changes_stay_in_the_task(outcomes: dict[str, Outcome]) -> None:
    """A workflow's own decimal context may change; other tasks and steps keep the defaults."""
    out = outcomes["decimal-isolation"]
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [False, [True, 28], [True, False, 28]]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
def test_escape_fails_the_run(attempt: Attempt, outcomes: dict[str, Outcome]) -> None:
    out = outcomes[attempt.name]
    assert not out.marker.exists(), f"escaped: {out.marker} was created"
    assert SECRET not in out.stdout + out.stderr
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "SandboxError" in out.stderr or "ValueError" in out.stderr, out.stderr
    assert attempt.refused in out.stderr, out.stderr
