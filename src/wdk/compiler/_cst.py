"""libcst plumbing shared by the bundle rewrite and ``wdk build --fix``.

The compiler reads positions from ``ast`` (free, exact) and rewrites with libcst (lossless:
whatever it does not touch prints back byte for byte). libcst parses only the top-level
statements that hold something to rewrite, one segment at a time, and the two trees are tied
together by order, not by position: function definitions in a segment are matched in source
order (the ``def`` keyword's position in ``ast``, pre-order in libcst). This keeps libcst's
PositionProvider, which costs more than the parse itself, off the compile path.

Only statements are walked: a libcst visitor that descends into every expression costs ~120 ms
on the 1,000-line benchmark module; this walk costs a few ms.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import libcst as cst

from wdk.compiler._text import SourceText

__all__ = ["blank_lines", "function_defs", "parse_module", "source_lines", "tail_lines"]


def parse_module(source: str) -> cst.Module:
    """Parse with libcst's native parser, the cyclic GC paused.

    The parse allocates hundreds of thousands of objects and none of them is garbage, so the
    collections the allocator would trigger meanwhile are pure cost (~5% of the parse).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return cst.parse_module(source)
    finally:
        if enabled:
            gc.enable()


def _blocks(node: cst.CSTNode) -> Iterator[cst.BaseSuite]:
    """The suites directly owned by one compound statement (or clause)."""
    body = getattr(node, "body", None)
    if isinstance(body, cst.BaseSuite):
        yield body
    for name in ("handlers", "cases"):  # source order: ``except`` before ``else``/``finally``
        for part in getattr(node, name, ()):
            yield from _blocks(part)
    for name in ("orelse", "finalbody"):
        part = getattr(node, name, None)
        if part is not None:
            yield from _blocks(part)


def function_defs(stmts: Sequence[cst.BaseStatement]) -> list[cst.FunctionDef]:
    """Every function definition in ``stmts``, in source order (pre-order over statements)."""
    out: list[cst.FunctionDef] = []
    stack: list[cst.BaseStatement] = list(reversed(stmts))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, cst.SimpleStatementLine):
            continue
        if isinstance(stmt, cst.FunctionDef):
            out.append(stmt)
        children: list[cst.BaseStatement] = []
        for suite in _blocks(stmt):
            if isinstance(suite, cst.IndentedBlock):
                children.extend(suite.body)
        stack.extend(reversed(children))
    return out


def _newline(ending: str) -> cst.Newline:
    return cst.Newline(ending if ending in ("\r\n", "\r") else None)


def source_lines(text: SourceText, first: int, last: int) -> list[cst.EmptyLine]:
    """Source lines ``first..last`` as empty lines that keep whole-line comments verbatim.

    A line whose text starts with ``#`` prints back exactly (indentation included); any other
    line prints as an empty line (its code is gone, its line number stays).
    """
    out: list[cst.EmptyLine] = []
    for lineno in range(first, last + 1):
        line = text.line(lineno)
        stripped = line.lstrip(" \t")
        newline = _newline(text.ending(lineno))
        if stripped.startswith("#"):
            ws = cst.SimpleWhitespace(line[: len(line) - len(stripped)])
            out.append(
                cst.EmptyLine(
                    indent=False, whitespace=ws, comment=cst.Comment(stripped), newline=newline
                )
            )
        else:
            out.append(cst.EmptyLine(indent=False, newline=newline))
    return out


def blank_lines(count: int) -> list[cst.EmptyLine]:
    """``count`` empty lines."""
    return [cst.EmptyLine(indent=False) for _ in range(count)]


def _last_suite(stmt: cst.BaseCompoundStatement) -> cst.BaseSuite:
    """The suite printed last by a compound statement (its last clause's body)."""
    node: cst.CSTNode = stmt
    while True:
        for name in ("finalbody", "orelse"):
            part = getattr(node, name, None)
            if part is not None:
                node = part
                break
        else:
            handlers = getattr(node, "handlers", None) or getattr(node, "cases", None)
            if handlers:
                node = handlers[-1]
            body = getattr(node, "body", None)
            assert isinstance(body, cst.BaseSuite)
            return body


def tail_lines(suite: cst.BaseSuite) -> int:
    """Lines after the last statement's end that print inside ``suite``.

    libcst gives comments indented deeper than the next statement to the block they follow
    (its ``footer``), innermost block first; ``ast`` ends a definition at its last statement,
    so these lines are counted here to keep them in place.
    """
    if not isinstance(suite, cst.IndentedBlock):
        return 0
    count = len(suite.footer)
    last = suite.body[-1]
    if isinstance(last, cst.BaseCompoundStatement):
        count += tail_lines(_last_suite(last))
    return count
