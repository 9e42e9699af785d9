"""Find classes by their ``module:qualname`` import path.

Enum members, dataclasses, pydantic models, exceptions and classes with the custom protocol
are stored with the path of their class, not with pickle-style references: the decoding
process may be another worker on another machine, and the path is the only name a class has
there. A class whose qualname contains ``<locals>`` (defined inside a function) has no such
path, so it is refused at encode time rather than failing later on decode.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

__all__ = ["Unsupported", "class_path", "module_resolver", "resolve", "type_name"]

_resolver: ContextVar[Callable[[str], ModuleType | None] | None] = ContextVar(
    "wdk_serde_module_resolver", default=None
)


class module_resolver:  # noqa: N801 - used like a function: ``with module_resolver(f):``
    """Decode classes from the modules ``resolve_module`` returns, where it returns one.

    A workflow run imports the user's modules fresh in its sandbox; values decoded for it
    must be instances of *those* classes, or ``isinstance`` in workflow code would fail.
    (A class, not a generator: it wraps every decode of a workflow's values.)
    """

    __slots__ = ("_resolve", "_token")

    def __init__(self, resolve_module: Callable[[str], ModuleType | None]) -> None:
        self._resolve = resolve_module

    def __enter__(self) -> None:
        self._token = _resolver.set(self._resolve)

    def __exit__(self, *exc: object) -> None:
        _resolver.reset(self._token)


class Unsupported(Exception):
    """Internal signal: this value cannot be encoded; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def type_name(cls: type) -> str:
    """``module.qualname`` of a class, without the ``builtins.`` prefix."""
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", repr(cls))
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"


def _walk(root: Any, qualname: str) -> Any:
    obj = root
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def class_path(cls: type) -> str:
    """The import path ``module:qualname`` of ``cls``.

    Raises:
        Unsupported: the class cannot be found again by that path.
    """
    module, qualname = cls.__module__, cls.__qualname__
    if "<locals>" in qualname:
        raise Unsupported(
            f"its class {qualname} is defined inside a function, so it cannot be imported by "
            "path when the value is decoded. Define the class at module level."
        )
    loaded = sys.modules.get(module)
    if loaded is not None:
        try:
            found = _walk(loaded, qualname)
        except AttributeError:
            found = None
        # A copy of the class (a module loaded again, e.g. fresh per workflow run) is fine.
        same = found is cls or (
            isinstance(found, type)
            and found.__module__ == module
            and found.__qualname__ == qualname
        )
        if not same:
            raise Unsupported(
                f"its class is not reachable as {module}:{qualname} (was it renamed, deleted or "
                "created dynamically?), so it could not be found again when decoded. Define "
                "the class at module level under its own name."
            )
    return f"{module}:{qualname}"


_cache: dict[str, tuple[ModuleType, Any]] = {}


def resolve(path: str) -> Any:
    """Import the object named by ``module:qualname``.

    Raises:
        LookupError: the path is malformed, the module cannot be imported or has no such
            attribute.
    """
    override = _resolver.get()
    if override is not None:
        module_name, _, qualname = path.partition(":")
        local = override(module_name)
        if local is not None and qualname:
            try:
                return _walk(local, qualname)
            except AttributeError as exc:
                raise LookupError(f"cannot find {path}: {exc}") from exc
    hit = _cache.get(path)
    if hit is not None:
        module_obj, found = hit
        if sys.modules.get(module_obj.__name__) is module_obj:
            return found
    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise LookupError(f"malformed class path {path!r}")
    try:
        module_obj = importlib.import_module(module)
        found = _walk(module_obj, qualname)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not found here"
        raise LookupError(f"cannot import {path}: {type(exc).__name__}: {exc}") from exc
    _cache[path] = (module_obj, found)
    return found
