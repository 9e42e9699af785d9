"""Removing pruned names from an import statement, keeping its lines and comments (libcst).

A parenthesized ``from decimal import (...)`` over four lines that loses one of its names must
still take four lines, each comment where it was: a removed alias's comma holds the line break
and comment that followed it, so they are merged into the gap before it.
"""

from __future__ import annotations

import libcst as cst

__all__ = ["prune_aliases"]

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
