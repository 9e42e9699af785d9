"""The workflow bundle: the module as the sandbox runs it (docs/internals.md).

Every step definition (decorators through last body line) is rewritten in place to::

    @__wdk_step__("step//orders.py//wf/f", lambda: {"key": key}, bind="instance")
    async def f(x): ...

followed by blank lines up to the definition's last line, so everything outside step
definitions keeps its line number and text. The signature keeps parameter names only:
annotations and defaults may use step-only imports, which are pruned. A definition that fits
on one line becomes ``f = __wdk_step__(...)(None)``. Pruned imports become ``pass`` (or lose
their unused names).
"""

from __future__ import annotations

import ast
import json

from wdk.compiler._directives import Site
from wdk.compiler._imports import Pruning
from wdk.compiler._text import SourceText

__all__ = ["render_workflow_bundle"]


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _params(args: ast.arguments) -> str:
    parts: list[str] = [a.arg for a in args.posonlyargs]
    if args.posonlyargs:
        parts.append("/")
    parts.extend(a.arg for a in args.args)
    if args.vararg is not None:
        parts.append(f"*{args.vararg.arg}")
    elif args.kwonlyargs:
        parts.append("*")
    parts.extend(a.arg for a in args.kwonlyargs)
    if args.kwarg is not None:
        parts.append(f"**{args.kwarg.arg}")
    return ", ".join(parts)


def _decorator_call(site: Site, step_id: str, captures: tuple[str, ...]) -> str:
    args = [_lit(step_id)]
    if captures:
        args.append("lambda: {" + ", ".join(f"{_lit(n)}: {n}" for n in captures) + "}")
    if site.bind is not None:
        args.append(f"bind={_lit(site.bind)}")
    return f"__wdk_step__({', '.join(args)})"


def _import_line(plan: Pruning) -> str:
    names = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in plan.keep)
    node = plan.node
    if isinstance(node, ast.ImportFrom):
        return f"from {'.' * node.level}{node.module or ''} import {names}"
    return f"import {names}"


def render_workflow_bundle(
    text: SourceText,
    sites: list[Site],
    step_ids: dict[int, str],
    captures: dict[int, tuple[str, ...]],
    pruning: list[Pruning],
) -> str:
    """The workflow bundle for one module.

    ``step_ids`` and ``captures`` are keyed by ``id(site)``.
    """
    lines = list(text.lines)

    def replace(first: int, last: int, new_first: list[str]) -> None:
        for offset, lineno in enumerate(range(first, last + 1)):
            body = new_first[offset] if offset < len(new_first) else ""
            lines[lineno - 1] = body + text.ending(lineno)

    outer = [s for s in sites if s.kind == "step"]
    outer = [
        s
        for s in outer
        if not any(o is not s and o.start <= s.start and s.end <= o.end for o in outer)
    ]
    for site in outer:
        indent = text.indent(site.start)
        call = _decorator_call(site, step_ids[id(site)], captures.get(id(site), ()))
        name = site.node.name
        if site.start == site.end:
            replace(site.start, site.end, [f"{indent}{name} = {call}(None)"])
            continue
        prefix = "async def" if isinstance(site.node, ast.AsyncFunctionDef) else "def"
        head = f"{indent}{prefix} {name}({_params(site.node.args)}): ..."
        replace(site.start, site.end, [f"{indent}@{call}", head])
    for plan in pruning:
        node = plan.node
        indent = text.indent(node.lineno)
        first = _import_line(plan) if plan.keep else "pass"
        replace(node.lineno, node.end_lineno or node.lineno, [indent + first])
    return "".join(lines)
