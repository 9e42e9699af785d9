"""``wdk build --fix``: apply each diagnostic's fix to the user's source as a libcst codemod.

The fixable diagnostics are the directive near misses whose fix is mechanical: WDK101 (the
text differs in spacing or case: ``"Use  step"``) and WDK102 (an f/b/r/u prefix, parentheses
or implicit concatenation: ``f"use step"``, ``("use step")``, ``"use " "step"``). Each
becomes the plain directive; libcst prints everything else back byte for byte, so the diff
shows only those strings. WDK103 (a directive after another statement) is not fixed: moving
a statement changes what the function does, so that stays the user's decision.

This path is off the compile budget, so it uses libcst's PositionProvider to find the
statement each diagnostic names.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from wdk.compiler._compile import compile_source
from wdk.compiler._diagnostics import Diagnostic

__all__ = ["FIXABLE", "FixResult", "fix_source", "unified_diff"]

#: Diagnostic codes whose ``fix`` :func:`fix_source` applies.
FIXABLE = frozenset({"WDK101", "WDK102"})

_WRITE_AS = re.compile(r'Write it exactly as "(use (?:step|workflow))"')


@dataclass(frozen=True, slots=True)
class FixResult:
    """What :func:`fix_source` did to one file."""

    source: str
    """The fixed source (the input when nothing applied)."""
    fixed: list[Diagnostic]
    """The diagnostics whose fix was applied."""

    @property
    def changed(self) -> bool:
        """Whether any fix applied."""
        return bool(self.fixed)


class _Fixer(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, targets: dict[tuple[int, int], str]) -> None:
        super().__init__()
        self.targets = targets
        self.done: set[tuple[int, int]] = set()

    def leave_Expr(self, original_node: cst.Expr, updated_node: cst.Expr) -> cst.Expr:
        start = self.get_metadata(PositionProvider, original_node).start
        key = (start.line, start.column)
        text = self.targets.get(key)
        if text is None:
            return updated_node
        self.done.add(key)
        quote = '"'
        value = original_node.value
        if isinstance(value, cst.SimpleString) and not value.prefix and not value.lpar:
            quote = value.quote  # keep the user's quotes when only the text was wrong
        return updated_node.with_changes(value=cst.SimpleString(f"{quote}{text}{quote}"))


def fix_source(source: str, *, relpath: str = "<string>", module: str = "m") -> FixResult:
    """Apply the fix of every fixable diagnostic in ``source``.

    Args:
        source: A module's text.
        relpath: Its path relative to the source root (for the diagnostics).
        module: Its dotted name.

    Returns:
        The fixed text and the diagnostics it fixed. A file that does not parse, or has
        nothing to fix, comes back unchanged.
    """
    result = compile_source(source, relpath=relpath, module=module)
    targets: dict[tuple[int, int], str] = {}
    wanted: dict[tuple[int, int], Diagnostic] = {}
    lines = source.splitlines()
    for diag in result.diagnostics:
        match = _WRITE_AS.search(diag.fix or "")
        if diag.code not in FIXABLE or match is None:
            continue
        # Diagnostic columns are 1-based characters; libcst's are 0-based characters.
        key = (diag.line, diag.col - 1)
        if 0 < diag.line <= len(lines):
            targets[key] = match.group(1)
            wanted[key] = diag
    if not targets:
        return FixResult(source, [])
    wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
    fixer = _Fixer(targets)
    fixed = wrapper.visit(fixer)
    return FixResult(fixed.code, [wanted[k] for k in sorted(fixer.done)])


def unified_diff(before: str, after: str, path: str) -> str:
    """A ``git diff``-style unified diff of one file (empty when equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
