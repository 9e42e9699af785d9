"""One pass over the syntax tree, split by whether a node sits inside a step definition.

Step definitions own their lines exclusively (a ``def`` starts a line, its decorators start
lines, and nothing follows its last body line on that line), so "inside a step" is a per-line
flag: no parent tracking, one ``ast.walk``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from wdk.compiler._directives import Site

__all__ = ["WATCHED", "Usage", "collect_usage", "postponed_annotations", "signature_names"]

#: wdk functions that only work in workflow code (calling them in a step is an error).
WATCHED = frozenset({"sleep", "create_hook", "create_webhook", "patched", "deprecate_patch"})


@dataclass(slots=True)
class Usage:
    """Names and nodes the compiler needs, split by inside/outside steps."""

    outside_names: set[str] = field(default_factory=set)
    """Every name read or written outside step definitions."""
    step_names: set[str] = field(default_factory=set)
    """Every name used inside step definitions."""
    step_calls: list[ast.Call] = field(default_factory=list)
    """Calls inside steps whose callee is a name or ``name.attr``."""
    step_nonlocals: list[ast.Nonlocal] = field(default_factory=list)
    wdk_functions: dict[str, str] = field(default_factory=dict)
    """Local name -> watched wdk function (``from wdk import sleep as nap``)."""
    wdk_modules: set[str] = field(default_factory=set)
    """Local names bound to the ``wdk`` module."""


def collect_usage(tree: ast.Module, sites: list[Site], line_count: int) -> Usage:
    """Walk ``tree`` once."""
    in_step = bytearray(line_count + 2)
    for site in sites:
        if site.kind == "step":
            in_step[site.start : site.end + 1] = b"\x01" * (site.end + 1 - site.start)
    usage = Usage()
    outside, inside = usage.outside_names, usage.step_names
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (inside if in_step[node.lineno] else outside).add(node.id)
        elif isinstance(node, ast.Call):
            if in_step[node.lineno] and isinstance(node.func, ast.Name | ast.Attribute):
                usage.step_calls.append(node)
        elif isinstance(node, ast.Nonlocal):
            if in_step[node.lineno]:
                usage.step_nonlocals.append(node)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "wdk":
                for alias in node.names:
                    if alias.name in WATCHED:
                        usage.wdk_functions[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "wdk":
                    usage.wdk_modules.add(alias.asname or "wdk")
    return usage


def postponed_annotations(tree: ast.Module) -> bool:
    """Whether the module has ``from __future__ import annotations`` (PEP 563)."""
    return any(
        isinstance(stmt, ast.ImportFrom)
        and stmt.module == "__future__"
        and any(a.name == "annotations" for a in stmt.names)
        for stmt in tree.body
    )


def signature_names(node: ast.FunctionDef | ast.AsyncFunctionDef, annotations: bool) -> set[str]:
    """Names a ``def`` statement evaluates: defaults, and annotations when ``annotations``.

    A step stub keeps its signature in the workflow bundle, so these run in the sandbox when
    the stub is defined: they count as used outside steps (their imports are not pruned).
    """
    args = node.args
    parts: list[ast.AST | None] = [*args.defaults, *args.kw_defaults]
    if annotations:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        parts.extend(a.annotation for a in every if a is not None)
        parts.append(node.returns)
    return {
        sub.id
        for part in parts
        if part is not None
        for sub in ast.walk(part)
        if isinstance(sub, ast.Name)
    }
