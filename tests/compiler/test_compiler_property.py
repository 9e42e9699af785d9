"""Property: a workflow bundle is its source with step bodies and pruned imports rewritten.

Hypothesis builds modules from the shapes that stress a line-preserving rewrite (decorators
over several lines, annotated and defaulted parameters, multi-line signatures, comments in
and after bodies, semicolons, backslash continuations, nested steps, step methods, partly
pruned parenthesized imports). For every module that compiles without errors: the workflow
bundle has the same number of lines, every line outside step bodies and pruned imports is
unchanged, and the bundle compiles. The same property is checked on a corpus of real
files: the standard library's modules.
"""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiler_fixtures import _rewritten_lines

from wdk.compiler import compile_source

IMPORTS = [
    "import json",
    "import hashlib  # step-only",
    "from decimal import (  # money\n    ROUND_UP,  # rounding\n    Decimal,\n)",
    "from typing import Any, \\\n    cast",
    "from os import (\n    path,\n    sep,\n)",
    "import functools",
]
DECORATORS = [
    "@functools.cache",
    "@functools.lru_cache(maxsize=2)  # cached",
    "@functools.lru_cache(\n    maxsize=None,\n)",
    "# a comment between decorators",
]
PARAMS = [
    "x",
    "x: int",
    "x: int = 1",
    "x: Decimal = Decimal(1)",
    "x: 'Any' = None",
    "*args: int",
]
DIRECTIVES = ['"use step"', "'use step'", '"""use step"""']
BODY = [
    "return x",
    "# a comment in the body",
    "y = json.dumps([1])",
    "z = hashlib.sha256(b'').hexdigest()",
    "if True:\n    pass  # nested comment\n    # deeper comment",
    "q = 1; r = 2",
    "s = 1 + \\\n    2",
    "t = cast(int, path.join(sep, 'a'))",
    "",
    'u = """text\n# not a comment\n"""',
]


def _indent(text: str, by: str) -> str:
    return "\n".join(by + line if line else line for line in text.split("\n"))


@st.composite
def step_source(draw: st.DrawFn, name: str, indent: str) -> str:
    decorators = draw(st.lists(st.sampled_from(DECORATORS), max_size=2))
    params = draw(st.lists(st.sampled_from(PARAMS[:5]), max_size=3, unique=True))
    params.sort(key=lambda p: "=" in p)  # no non-default parameter after a default one
    names: set[str] = set()
    unique: list[str] = []
    for i, param in enumerate(params):
        renamed = param.replace("x", f"x{i}", 1)
        names.add(renamed)
        unique.append(renamed)
    if draw(st.booleans()):
        unique.append(PARAMS[5])
    multiline = draw(st.booleans())
    sep = ",\n    " if multiline else ", "
    signature = sep.join(unique)
    if multiline and unique:
        signature = "\n    " + signature + ",\n"
    prefix = draw(st.sampled_from(["def", "async def"]))
    returns = draw(st.sampled_from(["", " -> int", " -> 'Decimal'"]))
    lines = [*decorators, f"{prefix} {name}({signature}){returns}:"]
    directive = draw(st.sampled_from(DIRECTIVES))
    if draw(st.booleans()):
        directive += "; w = 0  # continues"
    body = [directive]
    if draw(st.booleans()):
        body.append('"""A docstring."""')
    body.extend(draw(st.lists(st.sampled_from(BODY), max_size=4)))
    if draw(st.booleans()):
        body.append("# a trailing comment")
    body_text = _indent("\n".join(body), "    ")
    return _indent("\n".join(lines) + "\n" + body_text, indent)


@st.composite
def workflow_source(draw: st.DrawFn, name: str) -> str:
    lines = [f"async def {name}(a: int, b: str = 'x') -> int:", '    "use workflow"']
    lines.append("    factor = 2  # captured")
    for i in range(draw(st.integers(0, 2))):
        lines.append(draw(step_source(f"{name}_inner{i}", "    ")))
        lines.append("")
    lines.append("    return a * factor")
    return "\n".join(lines)


CLASS = """class Box:
    def __wdk_serialize__(self) -> dict:
        return {}

    @classmethod
    def __wdk_deserialize__(cls, data: dict) -> "Box":
        return cls()

{methods}
"""


@st.composite
def module_source(draw: st.DrawFn) -> str:
    parts = ['"""Generated."""', "from __future__ import annotations"]
    parts.extend(draw(st.lists(st.sampled_from(IMPORTS), max_size=4, unique=True)))
    parts.append("import functools")
    parts.append("from decimal import Decimal")
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["step", "workflow", "class", "assign", "comment"]))
        if kind == "step":
            parts.append(draw(step_source(f"step{i}", "")))
        elif kind == "workflow":
            parts.append(draw(workflow_source(f"flow{i}")))
        elif kind == "class":
            method = draw(step_source(f"method{i}", "    "))
            method = method.replace(f"method{i}(", f"method{i}(self, ", 1)
            parts.append(CLASS.replace("{methods}", method))
        elif kind == "assign":
            parts.append(draw(st.sampled_from(["A = 1; B = 2", "C = (1 +\n     2)", "D = 3"])))
        else:
            parts.append("# a module comment\n")
        parts.append(draw(st.sampled_from(["", "\n"])))
    return "\n".join(parts) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(module_source())
def test_workflow_bundle_keeps_every_line_outside_steps(source: str) -> None:
    result = compile_source(source, relpath="gen.py", module="gen")
    if not result.ok:
        return
    bundle = result.workflow_bundle
    src_lines = source.splitlines()
    wf_lines = bundle.splitlines()
    assert len(wf_lines) == len(src_lines), bundle
    assert bundle.count("\n") == source.count("\n")
    owned = _rewritten_lines(source, result)
    for number, (before, after) in enumerate(zip(src_lines, wf_lines, strict=True), 1):
        if number not in owned:
            assert before == after, f"line {number}:\n{bundle}"
    compile(bundle, "gen.py", "exec", dont_inherit=True)
    ast.parse(result.step_bundle)
    assert result.step_bundle.startswith(source)


def _check(source: str, relpath: str) -> bool:
    """The property for one module; False when it does not compile without errors."""
    result = compile_source(source, relpath=relpath, module=relpath[:-3])
    if not result.ok:
        return False
    src_lines = source.splitlines()
    wf_lines = result.workflow_bundle.splitlines()
    assert len(wf_lines) == len(src_lines), relpath
    owned = _rewritten_lines(source, result)
    for number, (before, after) in enumerate(zip(src_lines, wf_lines, strict=True), 1):
        if number not in owned:
            assert before == after, f"{relpath}:{number}"
    compile(result.workflow_bundle, relpath, "exec", dont_inherit=True)
    return True


def test_real_world_corpus_as_step_modules() -> None:
    """The standard library's own modules, each made a ``"use step"`` module.

    The directive as module docstring turns every top-level function into a step, so the
    rewrite meets real code: decorators, comments, nested blocks, continuations. Modules
    that do work at import time fail WDK007 and are skipped; the rest must hold the property.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    checked = 0
    for path in sorted(root.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        source = '"use step"\n' + text
        try:
            compile(source, path.name, "exec", dont_inherit=True)
        except SyntaxError:  # a ``from __future__`` import after the original docstring
            continue
        checked += _check(source, path.name)
    assert checked >= 50
