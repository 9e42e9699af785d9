"""Names in text that library code evaluates must mean, in workflow code, what the text says.

``typing``, pydantic and ``typing_extensions.get_annotations`` evaluate a forward reference in
the namespace *they* pick, and for a class that is ``sys.modules[cls.__module__].__dict__``:
the module of the same name outside the sandbox (the step bundle), with real modules in it. So
``x: "typing.sys"`` passes as a type expression, yet evaluates to the real ``sys`` there.

The audit hook therefore resolves each dotted name of a text compiled under workflow code in
the sandbox's own namespace (the locals of the workflow frames on the stack, the module
globals, the sandbox builtins), following attributes through the sandbox's ``_getattr_``
guard, which refuses modules off the allow-list. A name not bound yet is accepted only when the
workflow module binds it at module level (a forward or self reference to a class defined
later); anything else is refused, because the library would find it somewhere else.
"""

from __future__ import annotations

import ast
import symtable
from collections.abc import Iterator, Sequence
from typing import Any

from wdk.sandbox._errors import USER_SOURCES

__all__ = ["check_names", "module_bound_names"]

_bound: dict[str, frozenset[str]] = {}


def module_bound_names(filename: str) -> frozenset[str]:
    """Names a workflow module binds at module level (assignments, defs, classes, imports)."""
    names = _bound.get(filename)
    if names is None:
        source = USER_SOURCES.get(filename)
        names = frozenset()
        if source is not None:
            try:
                table = symtable.symtable(source, filename, "exec")
            except SyntaxError:  # pragma: no cover - it compiled before
                pass
            else:
                names = frozenset(
                    s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()
                )
        _bound[filename] = names
    return names


def _chains(node: ast.AST) -> Iterator[tuple[str, list[str]]]:
    """Each maximal ``a.b.c`` in ``node`` as ``("a", ["b", "c"])``."""
    if isinstance(node, ast.Attribute):
        attrs: list[str] = []
        inner: ast.AST = node
        while isinstance(inner, ast.Attribute):
            attrs.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name):
            yield inner.id, attrs[::-1]
            return
        yield from _chains(inner)
        return
    if isinstance(node, ast.Name):
        yield node.id, []
        return
    for child in ast.iter_child_nodes(node):
        yield from _chains(child)


def _lookup(name: str, frames: Sequence[Any]) -> tuple[bool, Any]:
    for frame in frames:
        scope = frame.f_locals
        if name in scope:
            return True, scope[name]
    globals_ = frames[0].f_globals
    if name in globals_:
        return True, globals_[name]
    builtins = globals_.get("__builtins__")
    if isinstance(builtins, dict) and name in builtins:
        return True, builtins[name]
    return False, None


def check_names(tree: ast.AST, frames: Sequence[Any]) -> str | None:
    """Why a dotted name in ``tree`` does not resolve in workflow code, or None.

    ``frames`` are the workflow frames on the stack, innermost first. A forbidden module on the
    way raises SandboxError from the guard itself.
    """
    getattr_ = frames[0].f_globals.get("_getattr_", getattr)
    for root, attrs in _chains(tree):
        found, value = _lookup(root, frames)
        if not found:
            if any(root in module_bound_names(f.f_code.co_filename) for f in frames):
                continue  # defined later in the module: a forward or self reference
            return f"the name {root!r} is not defined in workflow code here"
        for i, attr in enumerate(attrs):
            try:
                value = getattr_(value, attr)
            except AttributeError:
                dotted = ".".join([root, *attrs[: i + 1]])
                return f"{dotted} does not exist in workflow code"
    return None
