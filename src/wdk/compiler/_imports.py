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

import libcst as cst

from wdk.compiler._usage import Usage

__all__ = ["Pruning", "plan_pruning", "prune_aliases"]


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


_Space = cst.SimpleWhitespace | cst.ParenthesizedWhitespace


def _join(before: cst.BaseParenthesizableWhitespace, after: _Space) -> _Space:
    """Whitespace ``before`` followed by ``after``, as one node (lines and comments kept)."""
    assert isinstance(before, _Space)
    if isinstance(before, cst.SimpleWhitespace):
        if isinstance(after, cst.SimpleWhitespace):
            return cst.SimpleWhitespace(before.value + after.value)
        first = after.first_line
        return after.with_changes(
            first_line=first.with_changes(
                whitespace=cst.SimpleWhitespace(before.value + first.whitespace.value)
            )
        )
    if isinstance(after, cst.SimpleWhitespace):
        return before.with_changes(
            last_line=cst.SimpleWhitespace(before.last_line.value + after.value)
        )
    # Both span lines: the first line of ``after`` becomes an empty line (its comment kept).
    comment = after.first_line.comment
    moved = cst.EmptyLine(
        indent=False,
        whitespace=before.last_line if comment is not None else cst.SimpleWhitespace(""),
        comment=comment,
        newline=after.first_line.newline,
    )
    return before.with_changes(
        empty_lines=[*before.empty_lines, moved, *after.empty_lines],
        indent=after.indent,
        last_line=after.last_line,
    )


def _space_after(alias: cst.ImportAlias) -> _Space:
    comma = alias.comma
    if isinstance(comma, cst.Comma):
        before, after = comma.whitespace_before, comma.whitespace_after
        assert isinstance(before, _Space) and isinstance(after, _Space)
        return _join(before, after)
    return cst.SimpleWhitespace("")


def prune_aliases(
    stmt: cst.Import | cst.ImportFrom, drop: frozenset[int]
) -> tuple[cst.Import | cst.ImportFrom, int]:
    """``stmt`` without the aliases at ``drop``, the whitespace they held moved to a neighbour.

    Returns the statement and how many lines it lost (to be padded after it): a removed
    alias's comma carries the line break and comment that followed it, and those are merged
    into the preceding gap, so a parenthesized multi-line import keeps its lines and comments.
    """
    names = stmt.names
    assert not isinstance(names, cst.ImportStar)
    kept: list[cst.ImportAlias] = []
    lead: _Space | None = None  # whitespace freed before the first kept alias
    for position, alias in enumerate(names):
        if position not in drop:
            kept.append(alias)
            continue
        freed = _space_after(alias)
        if isinstance(freed, cst.SimpleWhitespace) and "\\" not in freed.value:
            continue  # plain spaces between names: nothing to keep
        if kept:
            last = kept[-1]
            comma = last.comma
            if isinstance(comma, cst.Comma):
                after = comma.whitespace_after
                assert isinstance(after, _Space)
                kept[-1] = last.with_changes(
                    comma=comma.with_changes(whitespace_after=_join(after, freed))
                )
            else:
                kept[-1] = last.with_changes(comma=cst.Comma(whitespace_after=freed))
        else:
            lead = freed if lead is None else _join(lead, freed)
    parenthesized = isinstance(stmt, cst.ImportFrom) and stmt.lpar is not None
    if isinstance(kept[-1].comma, cst.Comma) and not isinstance(names[-1].comma, cst.Comma):
        # The last alias went: a trailing comma is fine inside parentheses, not without (a
        # line continuation the comma held is lost and padded after the statement).
        if not parenthesized:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    new: cst.Import | cst.ImportFrom = stmt.with_changes(names=kept)
    if lead is not None:
        if isinstance(new, cst.ImportFrom) and new.lpar is not None:
            after = new.lpar.whitespace_after
            assert isinstance(after, _Space)
            new = new.with_changes(lpar=new.lpar.with_changes(whitespace_after=_join(after, lead)))
        else:
            after = new.whitespace_after_import
            assert isinstance(after, cst.SimpleWhitespace) and isinstance(
                lead, cst.SimpleWhitespace
            )
            new = new.with_changes(whitespace_after_import=_join(after, lead))
    module = cst.Module([])
    lost = module.code_for_node(stmt).count("\n") - module.code_for_node(new).count("\n")
    return new, max(lost, 0)
