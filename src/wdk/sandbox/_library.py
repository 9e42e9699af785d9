"""Checks placed inside library entry points that workflow code reaches through a view.

Some library functions create classes or read attributes from data a class statement never
sees, and cannot be wrapped in a module view because workflow code reaches them through a
class it must keep using as is (``enum.Enum('E', names)``, a pydantic model's validator). These
are patched once, in the library, when the module's view is first built; each check applies
only while workflow code is on the thread's stack (:func:`in_workflow_code`), so step code and
the rest of the process see the library unchanged.

* ``enum``'s functional API (``Enum('E', [('__del__', f)])``): member names must be plain
  identifiers; a dunder "member" becomes a class attribute, i.e. an interpreter hook.
* pydantic validators: an alias is the name pydantic's core ``getattr``-s on the input under
  ``from_attributes`` (``Field(validation_alias=AliasPath('__init__', '__globals__'))``
  walks from any object to a module's real builtins). Every validator pydantic builds goes
  through ``pydantic.plugin._schema_validator``; a core schema whose aliases or field names
  start with ``_`` (or that is an inspect attribute such as ``gi_frame``) is refused there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from wdk.sandbox._classes import check_member_name
from wdk.sandbox._errors import in_workflow_code, refuse

__all__ = ["install_for", "walk_aliases"]

_lock = threading.Lock()
_done: set[str] = set()


def _patch_enum() -> None:
    import enum

    real = enum.EnumType._create_  # type: ignore[attr-defined]

    def _create_(cls: Any, class_name: Any, names: Any, **kwargs: Any) -> Any:
        if in_workflow_code(2):
            # read once, as plain values: the checked names are the ones enum gets
            if isinstance(names, str):
                names = str.split(str.replace("" + names, ",", " "))
            elif isinstance(names, Mapping):
                names = {key: names[key] for key in list(names.keys())}
            elif names is not None:
                names = [item if type(item) is str else tuple(item) for item in names]
            for item in names or ():
                name = item if type(item) is str else (item[0] if item else None)
                check_member_name(name, f"the enum member of {class_name!r}")
        return real(cls, class_name, names, **kwargs)

    enum.EnumType._create_ = _create_  # type: ignore[attr-defined]


def walk_aliases(schema: Any) -> str | None:
    """The first alias or field name in a pydantic core schema that workflow code may not read.

    That is a name starting with ``_`` or one of the inspect attributes (``gi_frame``,
    ``f_globals``, ``tb_frame``...), the names the attribute policy refuses.
    """
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("validation_alias", "alias"):
                    for part in _alias_parts(value):
                        if isinstance(part, str):
                            plain = "".join((part,))  # the text, whatever a subclass says
                            if plain.startswith("_") or plain in INSPECT_ATTRIBUTES:
                                return plain
                elif key == "fields" and isinstance(value, dict):
                    for name in value:
                        if isinstance(name, str) and "".join((name,)).startswith("__"):
                            return "".join((name,))
                if isinstance(value, dict | list | tuple):
                    stack.append(value)
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return None


def _alias_parts(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            out.extend(_alias_parts(item))
        return out
    return [value]


def _patch_pydantic() -> None:
    from pydantic.plugin import _schema_validator as mod

    real: Callable[..., Any] = mod.SchemaValidator  # type: ignore[attr-defined]

    def SchemaValidator(schema: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        if in_workflow_code(2):
            bad = walk_aliases(schema)
            if bad is not None:
                refuse(
                    f"the pydantic alias or field name {bad!r} is not allowed in workflow code: "
                    "pydantic reads attributes by these names (from_attributes) around the "
                    "sandbox's attribute guard. Use names that do not start with '_' and are not "
                    "interpreter internals."
                )
        return real(schema, *args, **kwargs)

    mod.SchemaValidator = SchemaValidator  # type: ignore[attr-defined,assignment]


_PATCHES: dict[str, Callable[[], None]] = {"enum": _patch_enum, "pydantic": _patch_pydantic}


def install_for(module_name: str) -> None:
    """Install the checks for ``module_name`` (once per process; no-op for other modules)."""
    patch = _PATCHES.get(module_name)
    if patch is None or module_name in _done:
        return
    with _lock:
        if module_name not in _done:
            patch()
            _done.add(module_name)
