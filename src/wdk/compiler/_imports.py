"""Import pruning: imports used only inside step definitions leave the workflow bundle.

Only statements directly in the module body are candidates, and only when no other statement
shares their lines (so a line can become ``pass`` without touching anything else). A bound name
is prunable when it is used inside step definitions and nowhere else (names listed in
``__all__`` count as used). An import used nowhere is kept: it may be imported for its side
effects. ``from __future__`` and ``*`` imports are always kept.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from wdk.compiler._usage import Usage

__all__ = ["Pruning", "plan_pruning"]


@dataclass(frozen=True, slots=True)
class Pruning:
    """What to do with one import statement in the workflow bundle."""

    node: ast.Import | ast.ImportFrom
    keep: list[ast.alias]
    """Aliases that stay (empty: the statement becomes ``pass``)."""
    pruned: list[str]
    """Dotted names removed (``httpx``, ``decimal.Decimal``, ``.sibling.x``)."""
    drop: frozenset[int] = frozenset()
    """Indices (in ``node.names``) of the aliases removed."""

    def pruned_aliases(self) -> list[str]:
        """The local names the removed aliases bound, in the order of :attr:`pruned`."""
        is_from = isinstance(self.node, ast.ImportFrom)
        return [_bound(a, is_from) for i, a in enumerate(self.node.names) if i in self.drop]


def _all_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        if value is not None and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in targets
        ):
            for node in ast.walk(value):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.add(node.value)
    return names


def _bound(alias: ast.alias, is_from: bool) -> str:
    if alias.asname:
        return alias.asname
    return alias.name if is_from else alias.name.split(".")[0]


def plan_pruning(tree: ast.Module, usage: Usage) -> list[Pruning]:
    """The import statements to rewrite, in source order."""
    if not usage.step_names:
        return []
    exported = _all_names(tree)
    body = tree.body
    plans: list[Pruning] = []
    for index, stmt in enumerate(body):
        if not isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue
        end = stmt.end_lineno or stmt.lineno
        if index > 0 and (body[index - 1].end_lineno or 0) >= stmt.lineno:
            continue
        if index + 1 < len(body) and body[index + 1].lineno <= end:
            continue
        is_from = isinstance(stmt, ast.ImportFrom)
        keep: list[ast.alias] = []
        pruned: list[str] = []
        drop: set[int] = set()
        for position, alias in enumerate(stmt.names):
            name = _bound(alias, is_from)
            if (
                alias.name != "*"
                and name in usage.step_names
                and name not in usage.outside_names
                and name not in exported
            ):
                drop.add(position)
                if isinstance(stmt, ast.ImportFrom):
                    base = "." * stmt.level + (stmt.module or "")
                    sep = "" if base.endswith(".") or not base else "."
                    pruned.append(f"{base}{sep}{alias.name}")
                else:
                    pruned.append(alias.name)
            else:
                keep.append(alias)
        if pruned:
            plans.append(Pruning(stmt, keep, pruned, frozenset(drop)))
    return plans
