"""Finding ``"use workflow"`` / ``"use step"`` directives and checking where they stand.

A directive is the *first statement* of a function body, written as exactly one plain string
literal: ``"use step"``, ``'use step'``, ``\"\"\"use step\"\"\"`` or ``'''use step'''`` (the
same for ``use workflow``). Everything else that merely looks like one (other spacing or case,
f-strings, bytes, ``r``/``u`` prefixes, parentheses, implicit concatenation, a later statement)
is *not* a directive and gets a warning, so a typo never silently turns a step into plain
workflow code. The test is on the statement's source text, which is both exact and cheap.

A module whose docstring is a directive applies it to every top-level function (methods and
nested functions excluded): ``"use step"`` makes each a step, ``"use workflow"`` each
``async def`` a workflow (a sync one is WDK001). A function with its own directive keeps it.

Placement rules (each violation is an error naming file:line with a fix):

* ``"use workflow"``: module-level ``async def`` only.
* ``"use step"``: module-level functions, functions nested in functions, and methods of classes
  whose body defines both ``__wdk_serialize__`` and ``__wdk_deserialize__``; classes must be
  module-level (or nested in module-level classes).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Literal

from wdk.compiler._diagnostics import Diagnostic
from wdk.compiler._model import Bind
from wdk.compiler._text import SourceText

__all__ = ["Discovery", "FunctionSpan", "Site", "discover"]

Kind = Literal["workflow", "step"]
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_EXACT: dict[str, Kind] = {}
for _text, _kind in (("use workflow", "workflow"), ("use step", "step")):
    for _q in ('"', "'", '"""', "'''"):
        _EXACT[f"{_q}{_text}{_q}"] = _kind  # type: ignore[assignment]

_NEAR = re.compile(r"\s*use\s+(step|workflow)\s*", re.IGNORECASE)
_PROTOCOL = frozenset({"__wdk_serialize__", "__wdk_deserialize__"})
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


@dataclass(slots=True)
class Site:
    """A function that carries a directive (explicitly or through the module docstring)."""

    node: FunctionNode
    kind: Kind
    qualname: str
    start: int
    """First line of the definition (its first decorator)."""
    end: int
    """Last line of the definition."""
    nested: bool
    """Defined inside a function (captures are computed for these)."""
    bind: Bind | None = None
    implicit: bool = False


@dataclass(slots=True)
class FunctionSpan:
    """Any function definition's line span (to attribute statements to functions)."""

    node: FunctionNode
    start: int
    end: int


@dataclass(slots=True)
class _Scope:
    kind: Literal["class", "function"]
    qualname: str
    protocol: bool = False
    in_function: bool = False
    """For a class: whether a function encloses it."""


@dataclass(slots=True)
class Discovery:
    """Everything :func:`discover` found in one module."""

    sites: list[Site] = field(default_factory=list)
    functions: list[FunctionSpan] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    module_step: bool = False
    module_kind: Kind | None = None
    """The module docstring's directive: it applies to every module-level function."""


def _start(node: FunctionNode | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _bind_of(node: FunctionNode) -> Bind:
    for dec in node.decorator_list:
        name = dec.id if isinstance(dec, ast.Name) else getattr(dec, "attr", None)
        if name == "staticmethod":
            return "static"
        if name == "classmethod":
            return "class"
    return "instance"


def _has_protocol(node: ast.ClassDef) -> bool:
    names: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return _PROTOCOL <= names


class _Finder:
    def __init__(self, text: SourceText, relpath: str) -> None:
        self.text = text
        self.relpath = relpath
        self.out = Discovery()

    # -- diagnostics -----------------------------------------------------------------------
    def diag(
        self, code: str, node: ast.AST, message: str, fix: str, *, warning: bool = False
    ) -> None:
        line = getattr(node, "lineno", 1)
        col = self.text.col(line, getattr(node, "col_offset", 0))
        self.out.diagnostics.append(
            Diagnostic(
                code=code,
                message=message,
                file=self.relpath,
                line=line,
                col=col,
                severity="warning" if warning else "error",
                fix=fix,
            )
        )

    # -- directive text ----------------------------------------------------------------------
    def directive(self, body: list[ast.stmt], where: str) -> Kind | None:
        """The directive of a body, warning about near misses (first and later statements)."""
        found: Kind | None = None
        for index, stmt in enumerate(body):
            if not isinstance(stmt, ast.Expr):
                continue
            value = stmt.value
            text: str | None = None
            if isinstance(value, ast.Constant) and isinstance(value.value, str | bytes):
                raw = value.value
                text = raw if isinstance(raw, str) else raw.decode("latin-1")
            elif isinstance(value, ast.JoinedStr) and all(
                isinstance(v, ast.Constant) for v in value.values
            ):
                text = "".join(str(v.value) for v in value.values if isinstance(v, ast.Constant))
            if text is None or not _NEAR.fullmatch(text):
                continue
            if index > 0:
                self.diag(
                    "WDK103",
                    stmt,
                    f"{text.strip()!r} is not the first statement of {where}, so it is not a "
                    "directive",
                    "Move it to the first line of the body (before any other statement).",
                    warning=True,
                )
                continue
            kind = None
            if stmt.lineno == stmt.end_lineno and stmt.end_col_offset is not None:
                seg = self.text.segment(stmt.lineno, stmt.col_offset, stmt.end_col_offset)
                kind = _EXACT.get(seg)
            if kind is not None:
                found = kind
                continue
            exact = text in ("use step", "use workflow")
            if exact:
                self.diag(
                    "WDK102",
                    stmt,
                    f"{text!r} in {where} is not a directive: a directive is one plain string "
                    "literal (no f/b/r/u prefix, parentheses or implicit concatenation)",
                    f'Write it exactly as "{text}".',
                    warning=True,
                )
            else:
                self.diag(
                    "WDK101",
                    stmt,
                    f"{text!r} in {where} looks like a directive but is not one",
                    f'Write it exactly as "{" ".join(text.split()).lower()}".',
                    warning=True,
                )
        return found

    # -- walking ---------------------------------------------------------------------------
    def run(self, tree: ast.Module) -> Discovery:
        self.out.module_kind = self.directive(tree.body[:1], "the module docstring")
        self.out.module_step = self.out.module_kind == "step"
        self.block(tree.body, ())
        return self.out

    def block(self, body: list[ast.stmt], chain: tuple[_Scope, ...]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(stmt, chain)
            elif isinstance(stmt, ast.ClassDef):
                self.klass(stmt, chain)
            elif isinstance(stmt, _BLOCKS):
                for part in ("body", "orelse", "finalbody"):
                    self.block(getattr(stmt, part, []), chain)
                for handler in getattr(stmt, "handlers", []):
                    self.block(handler.body, chain)
            elif isinstance(stmt, ast.Match):
                for case in stmt.cases:
                    self.block(case.body, chain)
            elif isinstance(stmt, ast.TryStar):
                self.block(stmt.body + stmt.orelse + stmt.finalbody, chain)
                for handler in stmt.handlers:
                    self.block(handler.body, chain)

    def klass(self, node: ast.ClassDef, chain: tuple[_Scope, ...]) -> None:
        parent = chain[-1] if chain else None
        if parent is None:
            qualname, in_function = node.name, False
        elif parent.kind == "class":
            qualname, in_function = f"{parent.qualname}.{node.name}", parent.in_function
        else:
            qualname, in_function = f"{parent.qualname}/{node.name}", True
        scope = _Scope("class", qualname, _has_protocol(node), in_function)
        self.block(node.body, (*chain, scope))

    def function(self, node: FunctionNode, chain: tuple[_Scope, ...]) -> None:
        start, end = _start(node), node.end_lineno or node.lineno
        self.out.functions.append(FunctionSpan(node, start, end))
        parent = chain[-1] if chain else None
        bind: Bind | None = None
        if parent is None:
            qualname = node.name
        elif parent.kind == "class":
            bind = _bind_of(node)
            qualname = f"{parent.qualname}{'#' if bind == 'instance' else '.'}{node.name}"
        else:
            qualname = f"{parent.qualname}/{node.name}"
        where = f"{qualname}()"
        kind = self.directive(node.body, where)
        implicit = False
        if kind is None and parent is None and self.out.module_kind is not None:
            kind, implicit = self.out.module_kind, True
        if kind is not None:
            self.check(node, kind, qualname, chain, bind, start, end, implicit)
        self.block(node.body, (*chain, _Scope("function", qualname)))

    def check(
        self,
        node: FunctionNode,
        kind: Kind,
        qualname: str,
        chain: tuple[_Scope, ...],
        bind: Bind | None,
        start: int,
        end: int,
        implicit: bool,
    ) -> None:
        parent = chain[-1] if chain else None
        nested = any(s.kind == "function" for s in chain)
        if kind == "workflow":
            if parent is not None:
                what = "a method" if parent.kind == "class" else "a nested function"
                self.diag(
                    "WDK002",
                    node,
                    f'"use workflow" on {what} ({qualname}): workflows must be module-level '
                    "async functions",
                    f"Move {node.name}() to the top level of the module.",
                )
                return
            if not isinstance(node, ast.AsyncFunctionDef) and implicit:
                self.diag(
                    "WDK001",
                    node,
                    f"{qualname}() is a sync function in a module whose docstring is "
                    '"use workflow", which makes every module-level function a workflow, '
                    "and workflows must be `async def`",
                    f'Declare it as `async def {node.name}(...)`, give it its own "use step", '
                    "or move it to a module without the directive.",
                )
                return
            if not isinstance(node, ast.AsyncFunctionDef):
                self.diag(
                    "WDK001",
                    node,
                    f'"use workflow" on a sync function ({qualname}): workflows must be '
                    "`async def`",
                    f"Declare it as `async def {node.name}(...)`.",
                )
                return
        elif parent is not None and parent.kind == "class":
            if parent.in_function:
                self.diag(
                    "WDK004",
                    node,
                    f'"use step" on a method of {parent.qualname}, a class defined inside a '
                    "function: its steps cannot be found by ID",
                    "Move the class to the top level of the module.",
                )
                return
            if not parent.protocol:
                self.diag(
                    "WDK003",
                    node,
                    f'"use step" on a method of {parent.qualname}, which does not implement '
                    "the serialization protocol",
                    f"Define __wdk_serialize__ and __wdk_deserialize__ on {parent.qualname} "
                    "(or make the method a module-level function).",
                )
                return
        else:
            owner = next((s for s in chain if s.kind == "class" and s.in_function), None)
            if owner is not None:
                self.diag(
                    "WDK004",
                    node,
                    f'"use step" inside {owner.qualname}, a class defined inside a function: '
                    "its steps cannot be found by ID",
                    "Move the class to the top level of the module.",
                )
                return
        self.out.sites.append(
            Site(
                node=node,
                kind=kind,
                qualname=qualname,
                start=start,
                end=end,
                nested=nested,
                bind=bind if parent is not None and parent.kind == "class" else None,
                implicit=implicit,
            )
        )


def discover(tree: ast.Module, text: SourceText, relpath: str) -> Discovery:
    """Find every directive in ``tree`` and check its placement."""
    return _Finder(text, relpath).run(tree)
