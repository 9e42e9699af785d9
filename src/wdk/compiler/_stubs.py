"""What each step stub keeps, decided from ``ast`` (no libcst: this runs on every compile).

The rewrite itself is in ``_workflow_bundle.py``; the shapes are described there and in
docs/compiler.md. Deciding them here, before import pruning, matters: a stub that keeps its
signature evaluates its defaults (and annotations) in the sandbox, so their names must not be
pruned.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from wdk.compiler._directives import Site
from wdk.compiler._text import SourceText

__all__ = ["StubPlan", "is_doc", "plan_stub", "stub_call"]


def _lit(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def stub_call(site: Site, step_id: str, captures: tuple[str, ...]) -> str:
    args = [_lit(step_id)]
    if captures:
        args.append("lambda: {" + ", ".join(f"{_lit(n)}: {n}" for n in captures) + "}")
    if site.bind is not None:
        args.append(f"bind={_lit(site.bind)}")
    return f"__wdk_step__({', '.join(args)})"


@dataclass(frozen=True, slots=True)
class StubPlan:
    """How one step definition is stubbed (decided before import pruning, from ``ast``)."""

    keep_doc: bool
    """Whether the statement after the directive (a string) stays."""
    free_first: int
    """First line of the body that is dropped (``free_last + 1`` when none is)."""
    free_last: int
    """Last line of the definition."""
    signature: bool
    """Whether the ``def`` and its signature stay (False: one assignment line)."""
    head_only: bool = False
    """Whether libcst needs only the lines before ``free_first`` (all later ones are free)."""


def is_doc(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def plan_stub(site: Site, text: SourceText) -> StubPlan:
    """Decide the stub's shape from ``ast`` positions.

    The body keeps its first statement when it is a string (the directive, or a docstring in
    a module-level ``"use step"`` module) and the string after it; any other first statement
    becomes ``...`` on its first line. Every later line is free.
    """
    node = site.node
    body = node.body
    first = body[0]
    # An indented block starts on a line of its own; a one-line suite follows the colon.
    indented = not text.segment(first.lineno, 0, first.col_offset).strip()
    decorated = bool(node.decorator_list)
    if not is_doc(first):
        decorators = getattr(first, "decorator_list", [])
        free_first = min([first.lineno, *(d.lineno for d in decorators)]) + 1
        signature = indented and (decorated or free_first <= site.end)
        return StubPlan(False, free_first, site.end, signature)
    first_end = first.end_lineno or first.lineno
    alone = len(body) == 1 or body[1].lineno > first_end
    second = body[1] if len(body) > 1 else None
    keep_doc = (
        indented
        and alone
        and second is not None
        and is_doc(second)
        and (len(body) == 2 or body[2].lineno > (second.end_lineno or second.lineno))
    )
    kept = second if keep_doc and second is not None else first
    free_first = (kept.end_lineno or kept.lineno) + 1
    signature = indented and (decorated or free_first <= site.end)
    return StubPlan(keep_doc, free_first, site.end, signature, signature and alone)
