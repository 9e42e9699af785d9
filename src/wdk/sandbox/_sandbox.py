"""One workflow run's sandbox: fresh module globals, guarded imports, user modules.

Per configuration (built once, see :class:`_Base`): the guards, the builtins dict, the module
views and a *base globals* dict holding ``__builtins__`` and the guard names. Per run
(:class:`WorkflowSandbox`): a modules dict; each user module is a new ``ModuleType`` whose
``__dict__`` is filled from the base dict plus the injected names, then the cached code object
is executed in it. Setting up a run therefore costs a dict update and the module body itself
(DESIGN.md: shared globals leak steps and state between runs).

The import hook (``__builtins__["__import__"]``) is shared per configuration; it finds the run
through the importing module's globals, under a key that is not an identifier (so workflow code
cannot name it).
"""

from __future__ import annotations

import importlib
import threading
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wdk.sandbox._alloc import AllocGuards
from wdk.sandbox._builtins import make_builtins
from wdk.sandbox._cache import compile_workflow_code
from wdk.sandbox._config import DEFAULT, SandboxConfig
from wdk.sandbox._errors import refuse
from wdk.sandbox._guards import SANDBOX_CLASS_MARK, Guards
from wdk.sandbox._imports import ViewFactory, refuse_import, resolve_relative
from wdk.sandbox._limits import LIMIT_NAME, Limiter
from wdk.sandbox._shims import SHIMS

__all__ = ["BundleSource", "WorkflowSandbox"]

#: The globals key under which a sandbox module finds its run (not a valid identifier).
_RUN_KEY = "wdk sandbox"


@dataclass(frozen=True)
class BundleSource:
    """A user module's workflow bundle: the source to run in the sandbox and its real path."""

    source: str
    filename: str


class _Base:
    """Everything a configuration's runs share: guards, builtins, views, base globals."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        allowed = config.allowed_modules
        library_roots = frozenset(
            {m.partition(".")[0] for m in allowed} | {"builtins", "datetime", "uuid", "random"}
        ) - {"wdk"}
        self.views = ViewFactory(allowed, {}, SHIMS)
        self.guards = Guards(allowed, self.views.view_of, library_roots)
        self.views._overrides = {
            "operator": {
                "attrgetter": self.guards.attrgetter,
                "methodcaller": self.guards.methodcaller,
            }
        }
        self.builtins = make_builtins(self.guards, _import)
        self.alloc = AllocGuards(config.max_allocation)
        self.globals: dict[str, Any] = {
            "__builtins__": self.builtins,
            **self.guards.as_globals(),
            **self.alloc.as_globals(),
        }

    def module(self, name: str) -> types.ModuleType | None:
        """The view or shim of a non-user module, or None when it is not allowed."""
        if name == "__future__":  # ``from __future__ import annotations`` runs an import
            return self.views.view_of(importlib.import_module(name))
        if any(part.startswith("_") for part in name.split(".")):
            return None
        return self.views.get(name)


def allows_import(name: str, config: SandboxConfig = DEFAULT) -> bool:
    """Whether workflow code may import the (non-user) module ``name`` under ``config``.

    The same answer :meth:`WorkflowSandbox.import_module` gives, without importing anything:
    ``wdk build --check`` uses it to report imports a run would refuse.
    """
    if name in ("__future__", "asyncio") or name in SHIMS:
        return True
    if any(part.startswith("_") for part in name.split(".")):
        return False
    return name in config.allowed_modules


_bases: dict[SandboxConfig, _Base] = {}
_bases_lock = threading.Lock()


def _base(config: SandboxConfig) -> _Base:
    base = _bases.get(config)
    if base is None:
        with _bases_lock:
            base = _bases.get(config)
            if base is None:
                base = _bases[config] = _Base(config)
    return base


class WorkflowSandbox:
    """The sandbox of one workflow run.

    Args:
        resolve: ``resolve(module_name)`` returns the workflow bundle of a user module, or None
            when the name is not a user module.
        injected: names added to every user module's globals (``__wdk_step__``).
        config: which modules are allowed, caching, strictness, allocation limit.
        limiter: the run's activation budget (the runtime arms it around each activation);
            None gives one that is never armed.
    """

    def __init__(
        self,
        resolve: Callable[[str], BundleSource | None],
        *,
        injected: Mapping[str, Any] | None = None,
        config: SandboxConfig = DEFAULT,
        limiter: Limiter | None = None,
    ) -> None:
        self._resolve = resolve
        self._injected = dict(injected or {})
        self._base = _base(config)
        self.config = config
        self.modules: dict[str, types.ModuleType] = {}
        """The user modules loaded in this sandbox, by name."""
        self.limiter = limiter if limiter is not None else Limiter()
        """The budget checks of this sandbox's code read (see ``_limits.py``)."""
        self.classes: set[type] = set()
        """Classes made by this sandbox's class statements (writes to their instances are
        allowed without a ``_write_`` call; see ``_policy._write_call``)."""

    def import_module(self, name: str) -> types.ModuleType:
        """The module ``name`` as workflow code sees it: user modules fresh for this sandbox.

        Raises SandboxError when ``name`` is neither a user module nor allowed.
        """
        mod = self.modules.get(name)
        if mod is not None:
            return mod
        parent, _, child = name.rpartition(".")
        if parent:
            parent_mod = self.import_module(parent)
            mod = self.modules.get(name)  # the parent's body may have imported it
            if mod is not None:
                return mod
        else:
            parent_mod = None
        other = self._base.module(name)
        if other is not None:
            return other
        bundle = self._resolve(name)
        if bundle is None:
            return refuse_import(name)  # type: ignore[no-any-return]
        mod = self._load(name, bundle)
        if parent_mod is not None and parent in self.modules:
            setattr(parent_mod, child, mod)
        return mod

    def _load(self, name: str, bundle: BundleSource) -> types.ModuleType:
        code = compile_workflow_code(bundle.source, bundle.filename, config=self.config)
        mod = types.ModuleType(name)
        ns = mod.__dict__
        ns.update(self._base.globals)
        ns.update(self._injected)
        ns[LIMIT_NAME] = self.limiter
        ns["_wdk_classes_"] = self.classes
        ns["_note_class_"] = self._note_class
        is_pkg = bundle.filename.endswith("__init__.py")
        ns["__file__"] = bundle.filename
        ns["__package__"] = name if is_pkg else name.rpartition(".")[0]
        if is_pkg:
            ns["__path__"] = []
        ns[_RUN_KEY] = self
        self.modules[name] = mod
        try:
            exec(code, ns)
        except BaseException:
            del self.modules[name]
            raise
        return mod

    def _note_class(self, cls: Any) -> None:
        if isinstance(cls, type) and cls.__dict__.get(SANDBOX_CLASS_MARK):
            self.classes.add(cls)

    def _import(
        self, name: str, globals_: Mapping[str, Any], fromlist: Any, level: int
    ) -> types.ModuleType:
        if level:
            name = resolve_relative(name, globals_.get("__package__"), level)
        mod = self.import_module(name)
        if fromlist:
            if name in self.modules:
                for item in fromlist:
                    if item != "*" and not hasattr(mod, item):
                        sub = f"{name}.{item}"
                        if self._base.module(sub) is None and self._resolve(sub) is not None:
                            self.import_module(sub)
            return mod
        top = name.partition(".")[0]
        return self.modules.get(top) or self.import_module(top)


def _import(
    name: str,
    globals: Mapping[str, Any] | None = None,  # noqa: A002 - the __import__ signature
    locals: Any = None,  # noqa: A002
    fromlist: Any = (),
    level: int = 0,
) -> types.ModuleType:
    """``__import__`` of workflow code: dispatches to the importing module's sandbox."""
    run = globals.get(_RUN_KEY) if globals is not None else None
    if globals is None or not isinstance(run, WorkflowSandbox):
        refuse("__import__ is not available in workflow code; use an import statement.")
    return run._import(name, globals, fromlist, level)
