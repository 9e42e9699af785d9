"""Imports in workflow code: the allow-list, sanitized module views and user modules.

Workflow code never holds a real module object. ``import json`` gives a *view*: a module
object built once per configuration with the real module's public attributes, minus

* attributes that are modules not on the allow-list (``json.codecs``, ``re.enum``,
  ``typing.sys``, ``datetime.sys``): reading one raises SandboxError; allow-listed ones
  (``collections.abc``) come back as views too;
* attributes refused by name (:data:`REFUSED_ATTRIBUTES`: ``string.Formatter``,
  ``contextlib.chdir``, ``decimal.setcontext``, ``typing.get_type_hints``...);

and with ``operator.attrgetter``/``methodcaller`` replaced by guarded versions. Attributes a
package creates lazily (pydantic's ``__getattr__``) are resolved on first use and checked the
same way. Because every module reaching workflow code is a view, plain attribute reads need no
run-time guard (the speed of the sandbox rests on this).

``from m import name`` reads the view too (``IMPORT_FROM`` is a plain ``getattr`` in C), so
the same refusals apply. Module names with a component starting with ``_``
(``pydantic._internal``) are refused.

User modules (``resolve(name)`` returns their workflow bundle) are executed fresh per sandbox,
in a per-sandbox modules dict; relative imports resolve against ``__package__`` as usual.

Failed approach: proxies forwarding ``__getattr__`` to the real module (the stock answer) cost
a Python call per attribute read and still hand out the real module to ``IMPORT_FROM``.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from wdk.sandbox import _decimal
from wdk.sandbox._classes import guarded_metaclass
from wdk.sandbox._errors import refuse
from wdk.sandbox._library import install_for

__all__ = ["REFUSED_ATTRIBUTES", "ViewFactory", "refuse_import", "resolve_relative"]

_STEP = "do it in a 'use step' function"

#: Attributes of allowed modules that workflow code may not use, with the reason.
REFUSED_ATTRIBUTES: Mapping[str, Mapping[str, str]] = {
    "string": {
        "Formatter": "string.Formatter resolves fields with an unguarded getattr; use str.format "
        "or f-strings",
    },
    "contextlib": {
        "chdir": f"it changes the process's working directory; {_STEP}",
        "redirect_stdout": f"it replaces sys.stdout for the whole process; {_STEP}",
        "redirect_stderr": f"it replaces sys.stderr for the whole process; {_STEP}",
    },
    "decimal": {
        "setcontext": "it changes the decimal context of the worker thread for every run; use "
        "decimal.localcontext()",
        **_decimal.REFUSED,
    },
    "enum": {
        "global_enum": "it writes the enum's members into a module's globals, shared by every "
        "run in the process",
    },
    "typing": {
        "get_type_hints": "it evaluates annotation strings with eval(); read annotations in a "
        "'use step' function",
        "get_overloads": "the overload registry is shared by every run in the process",
        "clear_overloads": "the overload registry is shared by every run in the process",
    },
    "pydantic": {
        "ImportString": "it imports any module named in the data (ImportString('os:environ') "
        "reads the real environment)",
        **{
            name: "validating it reads the worker's file system"
            for name in ("FilePath", "DirectoryPath", "NewPath", "SocketPath")
        },
    },
    "typing_extensions": {
        "get_type_hints": "it evaluates annotation strings with eval(); read annotations in a "
        "'use step' function",
    },
}

#: Why a module is not allowed, for the error message (default: the I/O sentence).
_WHY: Mapping[str, str] = {
    "os": "do file, process and environment access in a 'use step' function",
    "sys": "interpreter state is not deterministic; do this in a 'use step' function",
    "threading": "workflows run on a deterministic scheduler; use asyncio.gather/create_task",
    "subprocess": "do process work in a 'use step' function",
    "socket": "do network I/O in a 'use step' function (or use wdk.fetch)",
    "importlib": "import modules with an import statement; only allow-listed modules work",
    "builtins": "the builtins available to workflow code are already in scope",
    "secrets": "it reads OS entropy; use random (seeded per run) or draw secrets in a step",
    "pydantic_ai": "to run a pydantic-ai Agent in a workflow, define it (with "
    "wdk.ai.WdkDurability) at module level in a module of its own, and list the module that "
    "defines it, not pydantic_ai, in [tool.wdk] sandbox-allowed-modules; see docs/ai.md",
}


def refuse_import(name: str) -> Any:
    """Raise SandboxError for ``import name`` in workflow code."""
    root = name.partition(".")[0]
    why = _WHY.get(root, "do I/O in a 'use step' function")
    refuse(
        f"import {name} is not allowed in workflow code: {why}. (Deterministic modules can be "
        "allowed in pyproject.toml [tool.wdk] sandbox-allowed-modules.)"
    )


def resolve_relative(name: str, package: str | None, level: int) -> str:
    """The absolute module name of ``from <level dots><name> import ...`` in ``package``."""
    if not package:
        raise ImportError("attempted relative import with no known parent package")
    bits = package.rsplit(".", level - 1)
    if len(bits) < level:
        raise ImportError("attempted relative import beyond top-level package")
    base = bits[0]
    return f"{base}.{name}" if name else base


class ViewFactory:
    """Builds (once) and caches the sanitized views of allow-listed modules for one config."""

    def __init__(
        self,
        allowed: frozenset[str],
        overrides: Mapping[str, Mapping[str, Any]],
        shims: Mapping[str, types.ModuleType],
    ) -> None:
        self.allowed = allowed
        self._overrides = overrides
        self._shims = shims
        self._views: dict[str, types.ModuleType] = {}
        self._stand_ins: dict[type, type] = {}

    def _safe(self, value: Any) -> Any:
        """``value``, or the stand-in when it is a metaclass (see ``_classes.py``)."""
        if isinstance(value, type) and issubclass(value, type):
            stand_in = self._stand_ins.get(value)
            if stand_in is None:
                stand_in = self._stand_ins[value] = guarded_metaclass(value)
            return stand_in
        return value

    def get(self, name: str) -> types.ModuleType | None:
        """The view (or shim) of module ``name``, or None if it is not allowed."""
        view = self._views.get(name)
        if view is not None:
            return view
        if name in self._shims:
            return self._shims[name]
        if name == "asyncio":
            shim = importlib.import_module("wdk.runtime.asyncio_shim")
            self._views[name] = shim
            return shim
        if name not in self.allowed:
            return None
        return self.view_of(importlib.import_module(name))

    def view_of(self, real: types.ModuleType) -> types.ModuleType:
        """The view of an allow-listed real module (built on first use)."""
        name = real.__name__
        view = self._views.get(name)
        if view is not None:
            return view
        install_for(name)
        view = types.ModuleType(name, real.__doc__)
        ns = view.__dict__
        refused = REFUSED_ATTRIBUTES.get(name, {})
        for key, value in list(real.__dict__.items()):
            if key.startswith("_") or key in refused or isinstance(value, types.ModuleType):
                continue
            ns[key] = self._safe(value)
        ns.update(self._overrides.get(name, {}))
        if "__all__" in real.__dict__:
            ns["__all__"] = list(real.__dict__["__all__"])
        ns["__wdk_view__"] = True
        ns["__getattr__"] = self._lazy(real, ns, refused)
        self._views[name] = view
        return view

    def _lazy(
        self, real: types.ModuleType, ns: dict[str, Any], refused: Mapping[str, str]
    ) -> Callable[[str], Any]:
        name = real.__name__

        def __getattr__(attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(f"module {name!r} has no attribute {attr!r}")
            if attr in refused:
                refuse(f"{name}.{attr} is not allowed in workflow code: {refused[attr]}.")
            if attr.startswith("_"):
                refuse(f"{name}.{attr} is private: workflow code may use public names only.")
            try:
                value = getattr(real, attr)
            except AttributeError:
                # ``from pkg import sub`` falls back to sys.modules["pkg.sub"] in C: answer
                # here first so a loaded, non-allowed submodule is refused, not handed out.
                value = sys.modules.get(f"{name}.{attr}")
                if value is None:
                    raise
            if isinstance(value, types.ModuleType):
                sub = value.__name__
                if sub not in self.allowed:
                    refuse(
                        f"{name}.{attr} is the module {sub!r}, which workflow code may not use: "
                        f"{_WHY.get(sub.partition('.')[0], _STEP)}."
                    )
                value = self.view_of(value)
            value = self._safe(value)
            ns[attr] = value
            return value

        return __getattr__
