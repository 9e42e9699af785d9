"""Captured variables of nested steps, and ``nonlocal`` in steps, via the stdlib ``symtable``.

Why ``symtable``: it is CPython's own scope analysis, so it agrees with ``co_freevars`` by
construction (comprehension scopes, variables assigned after the nested ``def``, names passed
through intermediate functions) and costs milliseconds. libcst's ScopeProvider gives the same
answer at ~100x the cost (seconds for a 1000-line file), so it is kept off this path.
"""

from __future__ import annotations

import ast
import symtable

from wdk.compiler._directives import FunctionSpan, Site

__all__ = ["FunctionTables", "captures_of", "nonlocal_violations"]


class FunctionTables:
    """Lazily built map from ``(def line, name)`` to each function's symbol table."""

    def __init__(self, source: str, filename: str) -> None:
        self._source = source
        self._filename = filename
        self._tables: dict[tuple[int, str], symtable.Function] | None = None

    def get(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> symtable.Function | None:
        """The table of ``node`` (None if symtable cannot analyse the module)."""
        if self._tables is None:
            self._tables = {}
            try:
                top = symtable.symtable(self._source, self._filename, "exec")
            except SyntaxError:
                return None
            stack: list[symtable.SymbolTable] = [top]
            while stack:
                table = stack.pop()
                if isinstance(table, symtable.Function):
                    self._tables[(table.get_lineno(), table.get_name())] = table
                stack.extend(table.get_children())
        return self._tables.get((node.lineno, node.name))


def captures_of(site: Site, tables: FunctionTables) -> tuple[str, ...]:
    """Sorted names a nested step reads from its enclosing functions (its free variables)."""
    if not site.nested:
        return ()
    table = tables.get(site.node)
    return tuple(sorted(table.get_frees())) if table is not None else ()


def _innermost_site(sites: list[Site], line: int) -> Site | None:
    best: Site | None = None
    for site in sites:
        if site.kind == "step" and site.start <= line <= site.end:
            if best is None or site.start >= best.start:
                best = site
    return best


def _innermost_function(functions: list[FunctionSpan], line: int) -> FunctionSpan | None:
    best: FunctionSpan | None = None
    for span in functions:
        if span.start <= line <= span.end and (best is None or span.start >= best.start):
            best = span
    return best


def nonlocal_violations(
    nodes: list[ast.Nonlocal],
    sites: list[Site],
    functions: list[FunctionSpan],
    tables: FunctionTables,
) -> list[tuple[ast.Nonlocal, Site, list[str]]]:
    """``nonlocal`` statements inside steps that reach outside the step.

    A ``nonlocal`` in the step's own body always does; one in a helper defined inside the step
    does when the name is a free variable of the step itself (bound by an enclosing function).
    """
    out: list[tuple[ast.Nonlocal, Site, list[str]]] = []
    for node in nodes:
        site = _innermost_site(sites, node.lineno)
        if site is None:
            continue
        func = _innermost_function(functions, node.lineno)
        if func is not None and func.node is site.node:
            out.append((node, site, list(node.names)))
            continue
        if not site.nested:
            continue
        table = tables.get(site.node)
        frees = set(table.get_frees()) if table is not None else set()
        outside = [n for n in node.names if n in frees]
        if outside:
            out.append((node, site, outside))
    return out
