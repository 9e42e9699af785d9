"""Names in text that library code evaluates must mean, in workflow code, what the text says.

``typing``, pydantic and ``typing_extensions.get_annotations`` evaluate a forward reference in
the namespace *they* pick, and for a class that is ``sys.modules[cls.__module__].__dict__``:
the module of the same name outside the sandbox (the step bundle), with real modules in it. So
``x: "typing.sys"`` passes as a type expression, yet evaluates to the real ``sys`` there.

The audit hook therefore resolves each dotted name of a text compiled under workflow code in
the sandbox's own namespace (the locals of the workflow frames on the stack, the module
globals, the sandbox builtins), following attributes through the sandbox's ``_getattr_``
guard, which refuses modules off the allow-list, and in the real module of the same name: the
text may not name a module, and where both know a name they must agree (:func:`_same`). A
library's own forward references (``pydantic_graph`` evaluating its hints on first use) name
things the workflow module does not bind: they pass.
"""

from __future__ import annotations

import ast
import linecache
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["check_names", "file_bindings"]


_bindings: dict[str, dict[str, bool]] = {}


def file_bindings(filename: str) -> dict[str, bool]:
    """Names the user's file binds at module level, each with whether a class statement does.

    Read from the file itself (through ``linecache``), not from the sandbox: the real module of
    the same name may be loaded only later (when a step first runs), and a forward reference
    checked now may be evaluated then, in that module.
    """
    found = _bindings.get(filename)
    if found is None:
        found = {}
        try:
            tree = ast.parse("".join(linecache.getlines(filename)), filename)
        except (SyntaxError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        stack: list[ast.stmt] = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, True)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found[node.name] = False
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    found[(alias.asname or alias.name).partition(".")[0]] = False
            else:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                        found[sub.id] = False
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(node, field, []) or [])
        _bindings[filename] = found
    return found


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


def _real_namespaces(frames: Sequence[Any]) -> list[dict[str, Any]]:
    """The namespaces of the real modules named like the workflow modules on the stack."""
    out: list[dict[str, Any]] = []
    for frame in frames:
        module = sys.modules.get(frame.f_globals.get("__name__", ""))
        ns = getattr(module, "__dict__", None)
        if isinstance(ns, dict) and ns is not frame.f_globals and all(ns is not o for o in out):
            out.append(ns)
    return out


def _same(a: Any, b: Any) -> bool:
    """Whether ``a`` (in the sandbox) and ``b`` (outside) name the same thing for a type."""
    if a is b:
        return True
    if isinstance(a, type) and isinstance(b, type):
        # the datetime shims subclass the real classes; a class of the workflow module exists
        # once in each bundle, from the same checked source
        return (
            issubclass(a, b)
            or issubclass(b, a)
            or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, _PLAIN):
        return True
    # ``Money = Annotated[Decimal, ...]`` at module level exists once per bundle; equal aliases
    # of the same types name the same thing. Anything else (a dict, a function, a step) would
    # hand workflow code the real module's object.
    return (isinstance(a, _ALIASES) or type(a).__module__ == "typing") and bool(a == b)


_PLAIN = (int, float, complex, str, bytes, bool, type(None), typing.TypeVar, typing.ParamSpec)
_ALIASES = (types.GenericAlias, types.UnionType)


def _follow(value: Any, attrs: Sequence[str], getattr_: Any) -> tuple[bool, Any]:
    for attr in attrs:
        try:
            value = getattr_(value, attr)
        except AttributeError:
            return False, None
    return True, value


def check_names(tree: ast.AST, frames: Sequence[Any]) -> str | None:
    """Why a dotted name in ``tree`` would not mean the same inside and outside, or None.

    ``frames`` are the workflow frames on the stack, innermost first. A name must not lead to
    a module, and where the real module of the same name as the workflow module binds it, both
    must name the same type. A name the sandbox does not know is accepted only when the user's
    file does not bind it other than by a class statement (a library's own name, or a forward
    reference to a class defined later), and the real module, if loaded, agrees. A forbidden
    module on the way raises SandboxError from the guard itself.
    """
    getattr_ = frames[0].f_globals.get("_getattr_", getattr)
    real = _real_namespaces(frames)
    for root, attrs in _chains(tree):
        dotted = ".".join([root, *attrs])
        found, value = _lookup(root, frames)
        if found:
            found, value = _follow(value, attrs, getattr_)
        if found and isinstance(value, types.ModuleType):
            return f"{dotted} is a module, not a type"
        if not found:
            for frame in frames:
                if file_bindings(frame.f_code.co_filename).get(root) is False:
                    return f"the name {root!r} is not defined in workflow code here"
        for ns in real:
            if root not in ns:
                continue
            ok, outside = _follow(ns[root], attrs, getattr)
            if not ok:
                continue
            if found and _same(value, outside):
                continue
            if not found and isinstance(outside, type) and outside.__module__ == ns.get("__name__"):
                continue  # a class the workflow module defines further down
            return f"{dotted} means something else outside the sandbox"
    return None
