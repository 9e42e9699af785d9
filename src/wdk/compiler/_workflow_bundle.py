"""The workflow bundle: the user's file with step bodies replaced (docs/internals.md).

The bundle is the source's lines with the top-level statements that hold a step or a pruned
import swapped for their libcst rewrite (only those are parsed, see
:func:`render_workflow_bundle`). libcst is lossless, so whatever the rewrite does not touch
inside them (comments, blank lines, continuations, semicolons, every step's signature) prints
back byte for byte. Line numbers are kept *by construction*, not by measuring: every removed
line is replaced by an empty line (or by the comment it held), so no position metadata is
needed.

A step definition keeps its ``def`` line, its whole signature (annotations, defaults), its
directive and the docstring after it, and every whole-line comment; its other statements
become empty lines. Its decorators become one::

    @__wdk_step__("step//orders.py//wf/f", lambda: {"key": key}, bind="instance")
    async def f(x: int, *, retries: int = 3) -> int:
        "use step"

A step without decorators has no line above its ``def`` to put that on, so its last body line
becomes the same call as an assignment (``f = __wdk_step__(...)(f)``), which binds the name to
the same proxy. When there is no free line at all (a one-line definition, or a body that is
only the directive) the definition becomes ``f = __wdk_step__(...)(None)`` on its first line.

Pruned imports become ``pass`` (keeping the comments of every line they spanned) or lose only
the pruned names, the whitespace around them kept so a parenthesized import keeps its shape.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Sequence

import libcst as cst

from wdk.compiler._cst import blank_lines, function_defs, parse_module, source_lines, tail_lines
from wdk.compiler._directives import FunctionSpan, Site
from wdk.compiler._imports import Pruning
from wdk.compiler._prune import prune_aliases
from wdk.compiler._stubs import StubPlan, is_doc
from wdk.compiler._text import SourceText

__all__ = ["render_workflow_bundle"]


class _Rewriter:
    """Rebuilds only the statements on the way to a change; everything else is reused."""

    def __init__(
        self,
        text: SourceText,
        stubs: dict[int, tuple[Site, StubPlan, cst.SimpleStatementLine]],
        imports: dict[int, Pruning],
    ) -> None:
        self.text = text
        self.stubs = stubs
        self.imports = imports

    # -- blocks ------------------------------------------------------------------------------
    def block(
        self, stmts: Sequence[cst.BaseStatement], footer: Sequence[cst.EmptyLine], top: bool
    ) -> tuple[list[cst.BaseStatement], Sequence[cst.EmptyLine], bool]:
        out: list[cst.BaseStatement] = []
        carry: list[cst.EmptyLine] = []
        changed = False
        index = 0  # index into ast.Module.body (module level only)
        for original in stmts:
            # Lines a previous rewrite freed go before this statement (looked up by identity
            # first: the stub and import maps hold the original nodes).
            stmt = original
            if carry:
                lines = getattr(stmt, "leading_lines", ())
                stmt = stmt.with_changes(leading_lines=[*carry, *lines])
                carry = []
            new: list[cst.BaseStatement] = [stmt]
            freed: list[cst.EmptyLine] = []
            if top and isinstance(stmt, cst.SimpleStatementLine):
                plan = self.imports.get(index) if len(stmt.body) == 1 else None
                index += len(stmt.body)
                if plan is not None:
                    new, freed = self.prune(stmt, plan)
            else:
                index += 1
                if isinstance(stmt, cst.FunctionDef) and id(original) in self.stubs:
                    new, freed = self.stub(stmt, *self.stubs[id(original)])
                elif not isinstance(stmt, cst.SimpleStatementLine):
                    new = [self.compound(stmt)]
            carry = freed
            changed = changed or len(new) != 1 or new[0] is not original or bool(carry)
            out.extend(new)
        if carry:
            footer = [*carry, *footer]
        return out, footer, changed

    def suite(self, suite: cst.BaseSuite) -> cst.BaseSuite:
        if not isinstance(suite, cst.IndentedBlock):
            return suite
        body, footer, changed = self.block(suite.body, suite.footer, top=False)
        return suite.with_changes(body=body, footer=footer) if changed else suite

    def compound(self, node: cst.CSTNodeT) -> cst.CSTNodeT:  # type: ignore[type-var]
        changes: dict[str, object] = {}
        body = getattr(node, "body", None)
        if isinstance(body, cst.BaseSuite):
            new_body = self.suite(body)
            if new_body is not body:
                changes["body"] = new_body
        for name in ("orelse", "finalbody"):
            part = getattr(node, name, None)
            if part is not None:
                new_part = self.compound(part)
                if new_part is not part:
                    changes[name] = new_part
        for name in ("handlers", "cases"):
            parts = getattr(node, name, None)
            if parts:
                new_parts = [self.compound(p) for p in parts]
                if any(a is not b for a, b in zip(new_parts, parts, strict=True)):
                    changes[name] = new_parts
        return node.with_changes(**changes) if changes else node

    # -- steps -------------------------------------------------------------------------------
    def stub(
        self, node: cst.FunctionDef, site: Site, plan: StubPlan, assign: cst.SimpleStatementLine
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        text = self.text
        if not plan.signature:
            line = assign.with_changes(leading_lines=node.leading_lines)
            # The block's footer (comments indented under the ``def`` after its last line)
            # went with the ``def``: its lines follow as they were.
            return [line], source_lines(text, site.start + 1, site.end + tail_lines(node.body))
        assert isinstance(node.body, cst.IndentedBlock)
        block = node.body
        first = block.body[0]
        if not is_doc(site.node.body[0]):
            first = cst.SimpleStatementLine(
                [cst.Expr(cst.Ellipsis())], leading_lines=getattr(first, "leading_lines", ())
            )
        elif isinstance(first, cst.SimpleStatementLine) and len(first.body) > 1:
            head = first.body[0].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            first = first.with_changes(body=[head])
        kept: list[cst.BaseStatement] = [first]
        if plan.keep_doc:
            kept.append(block.body[1])
        # The free lines run to the end of the definition, then come the lines libcst keeps
        # in the footers of the dropped blocks (comments indented under the last statement).
        tail = tail_lines(block)
        free = source_lines(text, plan.free_first, plan.free_last)
        after = source_lines(text, site.end + 1, site.end + tail)
        if node.decorators:
            decorator = node.decorators[0]
            start = site.node.decorator_list[0]
            single = start.lineno == (start.end_lineno or start.lineno) and (
                text.line(start.lineno).lstrip().startswith("@")
            )
            new_decorator = decorator.with_changes(
                decorator=_call_of(assign),
                whitespace_after_at=cst.SimpleWhitespace(""),
                trailing_whitespace=(
                    decorator.trailing_whitespace if single else cst.TrailingWhitespace()
                ),
            )
            between = source_lines(text, site.start + 1, site.node.lineno - 1)
            new_block = block.with_changes(body=kept, footer=[*free, *after])
            stubbed = node.with_changes(
                decorators=[new_decorator], lines_after_decorators=between, body=new_block
            )
            return [stubbed], []
        # No decorator: the last free line binds the name to the proxy after the ``def``.
        ending = text.ending(site.end)
        if ending in ("\r\n", "\r"):
            assign = assign.with_changes(
                trailing_whitespace=cst.TrailingWhitespace(newline=cst.Newline(ending))
            )
        new_block = block.with_changes(body=kept, footer=free[:-1])
        return [node.with_changes(body=new_block), assign], after

    # -- imports -----------------------------------------------------------------------------
    def prune(
        self, line: cst.SimpleStatementLine, plan: Pruning
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        first, last = plan.node.lineno, plan.node.end_lineno or plan.node.lineno
        stmt = line.body[0]
        if plan.keep and isinstance(stmt, cst.Import | cst.ImportFrom):
            new_stmt, lost = prune_aliases(stmt, plan.drop)
            return [line.with_changes(body=[new_stmt])], blank_lines(lost)
        if first == last:
            return [line.with_changes(body=[cst.Pass()])], []
        # A multi-line import: ``pass`` on its first line, each line's comment where it was.
        head = self.text.line(first)
        comment = None
        whitespace = cst.SimpleWhitespace("")
        if "#" in head:  # an import holds no string, so ``#`` always starts a comment
            code, note = head.split("#", 1)
            comment = cst.Comment("#" + note)
            whitespace = cst.SimpleWhitespace(code[len(code.rstrip()) :] or "  ")
        trailing = cst.TrailingWhitespace(
            whitespace=whitespace,
            comment=comment,
            newline=line.trailing_whitespace.newline,
        )
        rest = [_comment_only(line_) for line_ in _raw_lines(self.text, first + 1, last)]
        return [line.with_changes(body=[cst.Pass()], trailing_whitespace=trailing)], rest


def _call_of(assign: cst.SimpleStatementLine) -> cst.BaseExpression:
    """``__wdk_step__(...)`` out of ``name = __wdk_step__(...)(arg)``."""
    small = assign.body[0]
    assert isinstance(small, cst.Assign) and isinstance(small.value, cst.Call)
    return small.value.func


def _raw_lines(text: SourceText, first: int, last: int) -> list[tuple[str, str]]:
    """``(line, ending)`` pairs for lines ``first..last``."""
    return [(text.line(n), text.ending(n)) for n in range(first, last + 1)]


def _comment_only(pair: tuple[str, str]) -> cst.EmptyLine:
    line, ending = pair
    newline = cst.Newline(ending if ending in ("\r\n", "\r") else None)
    if "#" not in line:
        return cst.EmptyLine(indent=False, newline=newline)
    code, note = line.split("#", 1)
    indent = code[: len(code) - len(code.lstrip(" \t"))]
    return cst.EmptyLine(
        indent=False,
        whitespace=cst.SimpleWhitespace(indent),
        comment=cst.Comment("#" + note),
        newline=newline,
    )


def _start(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(d.lineno for d in decorators)])


def render_workflow_bundle(
    text: SourceText,
    tree: ast.Module,
    functions: list[FunctionSpan],
    stubs: list[tuple[Site, StubPlan, str]],
    pruning: list[Pruning],
) -> str:
    """The workflow bundle for one module.

    libcst parses only the top-level statements that hold something to rewrite (and of a
    top-level step, only its lines up to the first free one); every other line is copied
    from the source. Each rewritten segment prints back to exactly as many lines as it had.

    Args:
        text: The source, line by line.
        tree: Its ``ast``.
        functions: Every function definition (to match ``ast`` and libcst ones by order).
        stubs: Each outermost step site, its stub plan and its ``__wdk_step__(...)`` call.
        pruning: Import statements to rewrite.
    """
    top = tree.body
    starts = [_start(stmt) for stmt in top]
    owner: dict[int, list[tuple[Site, StubPlan, str]]] = {}
    for stub in stubs:
        owner.setdefault(bisect.bisect_right(starts, stub[0].start) - 1, []).append(stub)
    imports = {next(i for i, s in enumerate(top) if s is plan.node): plan for plan in pruning}
    # The segments, then every stub's ``name = __wdk_step__(...)(arg)`` line, in *one* parse:
    # each segment is one complete top-level statement, and a parse call has ~0.2 ms of fixed
    # cost that a hundred segments would pay a hundred times.
    segments: list[tuple[int, int, int, str]] = []  # index, first, last line, text
    for index in sorted({*owner, *imports}):
        stmt = top[index]
        first, last = starts[index], stmt.end_lineno or stmt.lineno
        parse_last = last
        sites = owner.get(index, [])
        if len(sites) == 1 and sites[0][0].node is stmt and sites[0][1].head_only:
            parse_last = sites[0][1].free_first - 1
        chunk = "".join(text.lines[first - 1 : parse_last])
        if not chunk.endswith(("\n", "\r")):  # the file's last line has no line break
            chunk += "\n"
        segments.append((index, first, last, chunk))
    calls = [
        f"{site.node.name} = {call}({site.node.name if plan.signature else 'None'})\n"
        for site, plan, call in stubs
    ]
    module = parse_module("".join(seg[3] for seg in segments) + "".join(calls))
    if len(module.body) != len(segments) + len(calls):  # pragma: no cover - by construction
        raise AssertionError("a segment did not parse as one statement")
    assigns: dict[int, cst.SimpleStatementLine] = {}
    for stub, assign in zip(stubs, module.body[len(segments) :], strict=True):
        assert isinstance(assign, cst.SimpleStatementLine)
        assigns[id(stub[0])] = assign
    lines = list(text.lines)
    for (index, first, last, chunk), node in zip(
        segments, module.body[: len(segments)], strict=True
    ):
        chunk_last = first + chunk.count("\n") - chunk.count("\r\n") + chunk.count("\r") - 1
        ordered = sorted(
            (f.node for f in functions if first <= f.node.lineno <= chunk_last),
            key=lambda n: (n.lineno, n.col_offset),
        )
        nodes = function_defs([node])
        if len(ordered) != len(nodes):  # pragma: no cover - both parse the same grammar
            raise AssertionError(f"ast saw {len(ordered)} functions, libcst {len(nodes)}")
        by_ast = {id(a): c for a, c in zip(ordered, nodes, strict=True)}
        stub_map = {
            id(by_ast[id(site.node)]): (site, plan, assigns[id(site)])
            for site, plan, _ in owner.get(index, [])
        }
        plans = {0: imports[index]} if index in imports else {}
        body, footer, _ = _Rewriter(text, stub_map, plans).block([node], (), top=True)
        new = module.with_changes(header=(), body=body, footer=footer).code
        new_lines = _LINES.findall(new)
        if last == len(text.lines) and not text.ending(last):
            new_lines[-1] = _BREAK.sub("", new_lines[-1])
        if len(new_lines) != last - first + 1:  # pragma: no cover - kept by construction
            raise AssertionError(f"lines {first}-{last}: {len(new_lines)} lines after rewrite")
        lines[first - 1 : last] = new_lines
    return "".join(lines)


_BREAK = re.compile(r"(?:\r\n|\r|\n)\Z")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
