"""The builtins of workflow code.

RestrictedPython's ``safe_builtins`` plus what ordinary code needs (containers, ``sorted``,
``zip``, ``enumerate``, ``min``/``max``/``sum``, ``super``, ``property``...). Iterating
builtins are safe here because the policy does not rely on ``_getiter_`` (see ``_policy.py``).

Refused names are present as stubs that raise SandboxError with what to do instead, so
``open(...)`` says "file I/O belongs in a 'use step' function" rather than ``NameError``.

Decisions: ``type(x)`` works with one argument (a class's type, ``type``, is this same guarded
builtin; other metaclasses are refused) and refuses the three-argument form; ``object``,
``super``, ``property``, ``staticmethod``, ``classmethod``, ``bytearray``, ``dir`` and
``hasattr`` (it only returns a bool) are allowed; ``memoryview``, ``hash``, ``id``, ``vars``,
``globals``, ``locals``, ``exec``, ``eval``, ``compile``, ``open``, ``input``, ``breakpoint``,
``help``, ``exit``/``quit`` are refused; ``print`` writes to the run's log.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from typing import Any, NoReturn

from RestrictedPython.Guards import safe_builtins

from wdk._context import current_or_none
from wdk.sandbox._classes import is_metaclass, mark_sandbox_class, real_metaclass
from wdk.sandbox._errors import refuse
from wdk.sandbox._guards import Guards

__all__ = ["REFUSED_BUILTINS", "make_builtins"]

_log = logging.getLogger("wdk.sandbox")

_EXTRA = (
    "aiter", "all", "anext", "any", "ascii", "bin", "bytearray", "bytes", "classmethod",
    "dict", "dir", "enumerate", "filter", "format", "frozenset", "hasattr", "iter", "list",
    "map", "max", "min", "next", "object", "property", "reversed", "set", "sorted",
    "staticmethod", "sum", "super", "tuple", "zip", "NotImplemented",
    "StopAsyncIteration", "TimeoutError", "ConnectionError", "ExceptionGroup",
    "BaseExceptionGroup", "RecursionError", "ModuleNotFoundError", "LookupError",
)  # fmt: skip

_STEP = "belongs in a 'use step' function"

#: Builtins workflow code may not call, and why.
REFUSED_BUILTINS: dict[str, str] = {
    "open": f"file I/O {_STEP}",
    "input": f"reading input {_STEP}",
    "exec": "workflow code cannot run code from strings",
    "eval": "workflow code cannot run code from strings",
    "compile": "workflow code cannot compile code",
    "globals": "the module namespace is not exposed; use the names directly",
    "locals": "namespaces are not exposed; use the names directly",
    "vars": "namespaces are not exposed; use the names or dataclasses.asdict()",
    "hash": "hash() differs between processes (PYTHONHASHSEED), so replay would diverge; use "
    "hashlib or a stable key",
    "id": "object ids differ between runs; compare with `is` or use your own key",
    "breakpoint": "a workflow cannot stop in a debugger; debug the step or a test instead",
    "help": "help() is interactive",
    "memoryview": "memoryview is not available; use bytes",
    "exit": "raise an exception to fail the run",
    "quit": "raise an exception to fail the run",
}


def _refused(name: str, why: str) -> Callable[..., NoReturn]:
    def stub(*_args: Any, **_kwargs: Any) -> NoReturn:
        refuse(f"{name}() is not allowed in workflow code: {why}.")

    stub.__name__ = stub.__qualname__ = name
    return stub


def _print(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None,
           flush: bool = False) -> None:  # fmt: skip
    """``print`` of workflow code: one line of the run's log (silent during replay)."""
    if file is not None:
        refuse(f"print(file=...) is not allowed in workflow code: writing to files {_STEP}.")
    text = (" " if sep is None else sep).join(str(a) for a in args)
    tail = "\n" if end is None else end
    if tail != "\n":
        text += tail
    ctx = current_or_none()
    if ctx is None:
        _log.info("%s", text)
    else:
        ctx.log(text)


def _build_class(func: Callable[..., Any], name: str, *bases: Any, **kwds: Any) -> Any:
    """``__build_class__`` that marks classes defined in workflow code (see ``_write_``).

    A metaclass stand-in from a module view (``metaclass=abc.ABCMeta``) is swapped for the real
    metaclass: the class body was checked by the policy. A class deriving from a metaclass (or
    a stand-in) is refused: calling it with three arguments would build classes around every
    check.
    """
    if kwds:
        meta = kwds.get("metaclass")
        if meta is not None:
            kwds["metaclass"] = real_metaclass(meta)
    for base in bases:
        if is_metaclass(base):
            refuse(
                f"class {name} derives from the metaclass {base.__qualname__}: defining "
                "metaclasses is not allowed in workflow code (they create classes around the "
                "sandbox's checks). Use a class decorator or a plain base class."
            )
    return mark_sandbox_class(builtins.__build_class__(func, name, *bases, **kwds))


class _TypeMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, type)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, type)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) != 1 or kwargs:
            refuse(
                "type() with three arguments is not allowed in workflow code: define classes "
                "with a class statement."
            )
        result = type(args[0])
        if result is type:
            return cls
        if issubclass(result, type):
            refuse(
                f"type() of a class with metaclass {result.__qualname__} is not available in "
                "workflow code (a metaclass can create classes)."
            )
        return result


class _GuardedType(metaclass=_TypeMeta):
    """``type`` of workflow code: ``type(x)`` works, class creation does not."""

    def __class_getitem__(cls, item: Any) -> Any:
        return type[item]


_GuardedType.__name__ = _GuardedType.__qualname__ = "type"


def make_builtins(guards: Guards, import_: Callable[..., Any]) -> dict[str, Any]:
    """The builtins dict of one sandbox configuration."""
    names: dict[str, Any] = {
        k: v for k, v in safe_builtins.items() if k not in ("hash", "id", "setattr", "delattr")
    }
    for name in _EXTRA:
        names[name] = getattr(builtins, name)
    for name, why in REFUSED_BUILTINS.items():
        names[name] = _refused(name, why)
    names.update(
        __build_class__=_build_class,
        __import__=import_,
        print=_print,
        type=_GuardedType,
        getattr=guards.getattr_builtin,
        setattr=guards.setattr_builtin,
        delattr=guards.delattr_builtin,
    )
    return names
