"""Where user code lives, and how each side loads it.

A :class:`Project` knows the source roots (the current directory by default). From an ID
(``step//app/orders.py//charge``) it finds the file, compiles it through the same compiler
and cache ``wdk build`` uses, and then:

* hands the **workflow bundle** to the sandbox (fresh per run), and
* imports the **step bundle** as the real module (a meta-path finder serves it), then resolves
  the step: attributes for top-level functions and methods; for nested steps, the code object
  inside the enclosing function, rebuilt with cells holding the captured values.

A module that was already imported the ordinary way works too: its steps are plain functions
either way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wdk.errors import StepNotRegisteredError, WorkflowError, WorkflowNotRegisteredError

if TYPE_CHECKING:
    from importlib.abc import Loader as _LoaderBase
    from importlib.abc import MetaPathFinder as _FinderBase
else:
    # The import system needs only the methods; importlib.abc itself costs ~4 ms at start
    # (it imports importlib.resources, tempfile, shutil, bz2, lzma), paid by every `wdk run`.
    _LoaderBase = _FinderBase = object

__all__ = [
    "ModuleLocation",
    "Project",
    "current_deployment",
    "default_project",
    "parse_id",
    "set_default_project",
]


@dataclass(frozen=True, slots=True)
class ModuleLocation:
    """A user module found under a source root."""

    name: str
    path: Path
    relpath: str
    is_package: bool


def parse_id(ident: str) -> tuple[str, str, str]:
    """Split ``kind//relpath//qualname``; ValueError if it is not of that form."""
    parts = ident.split("//")
    if len(parts) != 3 or not all(parts) or parts[0] not in ("workflow", "step"):
        raise ValueError(f"not a wdk workflow or step id: {ident!r}")
    return parts[0], parts[1], parts[2]


def module_name_of(relpath: str) -> str:
    """``app/orders.py`` -> ``app.orders``; ``app/__init__.py`` -> ``app``."""
    stem = relpath[:-3] if relpath.endswith(".py") else relpath
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def relpath_of(module: str, is_package: bool) -> str:
    """The inverse of :func:`module_name_of`."""
    base = module.replace(".", "/")
    return f"{base}/__init__.py" if is_package else f"{base}.py"


class Project:
    """The user's source tree(s) and everything loaded from them."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]] | None = None) -> None:
        self.roots = [Path(r).resolve() for r in (roots or [os.getcwd()])]
        self._locations: dict[str, ModuleLocation | None] = {}
        self._compiled: dict[str, Any] = {}
        self._step_infos: dict[str, Any] = {}
        self._steps: dict[str, Callable[..., Any]] = {}
        self._versions: dict[str, str | None] = {}
        self._lock = threading.RLock()
        self._finder: _StepBundleFinder | None = None

    # -- locating ------------------------------------------------------------------------
    def locate(self, module: str) -> ModuleLocation | None:
        """Find a user module under the roots (None for stdlib / third-party modules)."""
        if module in self._locations:
            return self._locations[module]
        found: ModuleLocation | None = None
        base = module.replace(".", "/")
        for root in self.roots:
            for rel, is_pkg in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
                path = root / rel
                if path.is_file():
                    found = ModuleLocation(module, path, rel, is_pkg)
                    break
            if found:
                break
        self._locations[module] = found
        return found

    def compiled(self, module: str) -> Any:
        """The compiler's result for a user module (cached by content hash)."""
        cached = self._compiled.get(module)
        if cached is not None:
            return cached
        loc = self.locate(module)
        if loc is None:
            return None
        from wdk.compiler import load_module

        # Compiled once per process: a running worker serves the code it started with, as
        # any Python process does (its step modules are imported once too).
        result = load_module(module, loc.path, loc.relpath)
        if result.diagnostics and not result.ok:
            from wdk.errors import BuildError

            lines = "\n".join(str(d) for d in result.diagnostics)
            raise BuildError(
                f"{loc.relpath} does not compile:\n{lines}", diagnostics=tuple(result.diagnostics)
            )
        self._compiled[module] = result
        return result

    # -- workflow side -------------------------------------------------------------------
    def workflow_bundle(self, module: str) -> Any:
        """The workflow bundle of a user module for the sandbox, or None if not a user one."""
        result = self.compiled(module)
        if result is None:
            return None
        from wdk.sandbox import BundleSource

        loc = self.locate(module)
        assert loc is not None
        return BundleSource(source=result.workflow_bundle, filename=str(loc.path))

    def workflow_target(self, workflow_id: str) -> tuple[str, str]:
        """``(module, qualname)`` of a workflow ID, checked against the compiled module."""
        try:
            kind, relpath, qualname = parse_id(workflow_id)
        except ValueError:
            kind, relpath, qualname = "", "", ""
        if kind != "workflow":
            raise WorkflowNotRegisteredError(
                f"{workflow_id!r} is not a workflow id (expected workflow//<file>//<name>)",
                workflow_id=workflow_id,
            )
        module = module_name_of(relpath)
        result = self.compiled(module)
        if result is None or not any(w.id == workflow_id for w in result.workflows):
            where = (
                "no such file under " + ", ".join(map(str, self.roots))
                if result is None
                else f"{relpath} has no such workflow"
            )
            raise WorkflowNotRegisteredError(
                f"workflow {workflow_id} is not registered ({where}). Check the module path "
                'and that the function\'s first statement is "use workflow".',
                workflow_id=workflow_id,
            )
        return module, qualname

    # -- step side -----------------------------------------------------------------------
    def install_finder(self) -> None:
        """Serve step bundles for user modules imported from now on in this process."""
        with self._lock:
            if self._finder is None:
                self._finder = _StepBundleFinder(self)
                sys.meta_path.insert(0, self._finder)

    def uninstall_finder(self) -> None:
        """Undo :meth:`install_finder`."""
        with self._lock:
            if self._finder is not None:
                sys.meta_path.remove(self._finder)
                self._finder = None

    def step_callable(
        self, step_id: str, closure: dict[str, Any] | None = None
    ) -> Callable[..., Any]:
        """The real function behind a step ID, rebuilt with ``closure`` when nested."""
        cached = self._steps.get(step_id)
        if cached is not None and not closure:
            return cached
        builtin = _builtin_step(step_id, closure)
        if builtin is not None:
            return builtin
        try:
            kind, relpath, qualname = parse_id(step_id)
        except ValueError:
            kind, relpath, qualname = "", "", ""
        if kind != "step":
            raise StepNotRegisteredError(f"{step_id!r} is not a step id", step_id=step_id)
        module_name = module_name_of(relpath)
        result = self.compiled(module_name)
        if result is None or not any(s.id == step_id for s in result.steps):
            raise StepNotRegisteredError(
                f"step {step_id} is not registered: "
                + (
                    f"{relpath} has no such step"
                    if result is not None
                    else f"{relpath} was not found"
                )
                + ". Was the step renamed or moved since this run started?",
                step_id=step_id,
            )
        module = importlib.import_module(module_name)
        segments = qualname.split("/")
        fn: Callable[..., Any] = _resolve_attr_path(module, segments[0])
        if len(segments) > 1:
            fn = _rebuild_nested(fn, segments[1:], closure or {}, step_id)
        elif not closure:
            self._steps[step_id] = fn
        return fn

    def step_info(self, step_id: str) -> Any:
        """The compiler's StepInfo for a step ID, or None.

        Remembered once found, like :meth:`compiled`: a worker asks on every step attempt.
        """
        try:
            return self._step_infos[step_id]
        except KeyError:
            pass
        if step_id in BUILTIN_STEPS:
            return None
        try:
            _, relpath, _ = parse_id(step_id)
        except ValueError:
            return None
        result = self.compiled(module_name_of(relpath))
        if result is None:
            return None  # not found (yet): not remembered
        info = self._step_infos[step_id] = next((s for s in result.steps if s.id == step_id), None)
        return info

    def relative_location(self, location: str) -> str:
        """``/abs/root/app/orders.py:9`` -> ``app/orders.py:9`` for a file under a root."""
        path, sep, line = location.rpartition(":")
        if not sep:
            return location
        for root in self.roots:
            try:
                return f"{Path(path).relative_to(root).as_posix()}:{line}"
            except ValueError:
                continue
        return location

    def has_step(self, step_id: str) -> bool:
        """Whether this code has the step (a built-in, or a step of a module that compiles)."""
        if step_id in BUILTIN_STEPS:
            return True
        try:
            kind, relpath, _ = parse_id(step_id)
            result = self.compiled(module_name_of(relpath)) if kind == "step" else None
        except (ValueError, WorkflowError):
            return False
        return result is not None and any(s.id == step_id for s in result.steps)

    def module_versions(self, modules: Sequence[str]) -> dict[str, str | None]:
        """Each user module's source hash in this code (None: missing or not compiling).

        Two workers whose versions agree for a run's modules run the same code for it.
        """
        versions: dict[str, str | None] = {}
        for name in modules:
            try:
                result = self.compiled(name)
            except WorkflowError:
                result = None
            versions[name] = result.sha256[:16] if result is not None else None
        return versions

    def code_version(self, workflow_id: str) -> str | None:
        """The default deployment id of runs of ``workflow_id`` started on this code.

        A hash of its module's compiled workflow bundle (``code-<12 hex>``): it changes when
        the workflow side of that module changes, not when a step body does. None when the
        module is not found here (a client that starts runs by id only).
        """
        cached = self._versions.get(workflow_id)
        if cached is not None or workflow_id in self._versions:
            return cached
        version: str | None = None
        try:
            _, relpath, _ = parse_id(workflow_id)
            result = self.compiled(module_name_of(relpath))
        except (ValueError, WorkflowError):
            result = None
        if result is not None:
            digest = hashlib.blake2b(result.workflow_bundle.encode(), digest_size=6).hexdigest()
            version = f"code-{digest}"
        self._versions[workflow_id] = version
        return version

    def step_id_of(self, fn: types.FunctionType) -> str | None:
        """The step ID of a plain function, or None if it is not a step."""
        module = sys.modules.get(fn.__module__)
        if module is None:
            return None
        is_pkg = hasattr(module, "__path__")
        result = self.compiled(fn.__module__) if self.locate(fn.__module__) else None
        if result is None:
            return None
        relpath = relpath_of(fn.__module__, is_pkg)
        parts = fn.__code__.co_qualname.split(".<locals>.")
        head = parts[0]
        candidates = [head]
        if "." in head:
            owner, _, meth = head.rpartition(".")
            candidates = [f"{owner}#{meth}", head]
        ids = {s.id for s in result.steps}
        for cand in candidates:
            step_id = f"step//{relpath}//" + "/".join([cand, *parts[1:]])
            if step_id in ids:
                return step_id
        return None


#: Steps that ship with wdk: step ID -> ``"module:function"``, imported on first use (so
#: optional dependencies such as pydantic-ai load only when their step runs). A built-in step
#: called with a closure (a step reference carrying values, e.g. a model factory from
#: ``wdk.ai.providers``) gets the closure bound as keyword arguments.
BUILTIN_STEPS: dict[str, str] = {
    "step//wdk//fetch": "wdk._http:fetch_impl",
    "step//wdk//ai.model_call": "wdk.ai._model_step:model_call",
    "step//wdk//ai.write": "wdk.ai._model_step:write_chunks",
    "step//wdk//ai.providers.build": "wdk.ai.providers:build_model",
    # pydantic-ai agents with wdk.ai.WdkDurability: one step per model request / tool call.
    "step//wdk//ai.agent.model": "wdk.ai._durable_ops:run_operation",
    "step//wdk//ai.agent.tool": "wdk.ai._durable_ops:run_operation",
    "step//wdk//ai.agent.event": "wdk.ai._durable_ops:run_operation",
    "step//wdk//ai.agent.capability": "wdk.ai._durable_ops:run_operation",
}


def _builtin_step(step_id: str, closure: dict[str, Any] | None = None) -> Callable[..., Any] | None:
    target = BUILTIN_STEPS.get(step_id)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return functools.partial(fn, **closure) if closure else fn


def _resolve_attr_path(module: types.ModuleType, path: str) -> Any:
    owner_path, sep, method = path.partition("#")
    obj: Any = module
    for attr in owner_path.split("."):
        obj = getattr(obj, attr)
    if sep:
        obj = getattr(obj, method)
    return obj


def _unwrap(fn: Any) -> types.FunctionType:
    while not isinstance(fn, types.FunctionType):
        inner = getattr(fn, "__wrapped__", None) or getattr(fn, "__func__", None)
        if inner is None:
            raise TypeError(f"cannot find the code of {fn!r}")
        fn = inner
    return fn


def _rebuild_nested(
    outer: Any, names: list[str], closure: dict[str, Any], step_id: str
) -> types.FunctionType:
    outer_fn = _unwrap(outer)
    target = outer_fn.__code__.co_qualname + "".join(f".<locals>.{n}" for n in names)
    code = _find_code(outer_fn.__code__, target)
    if code is None:
        raise StepNotRegisteredError(f"step {step_id}: nested function not found", step_id=step_id)
    missing = [v for v in code.co_freevars if v not in closure]
    if missing:
        raise StepNotRegisteredError(
            f"step {step_id} needs captured variables {missing} that the call did not carry",
            step_id=step_id,
        )
    cells = tuple(types.CellType(closure[v]) for v in code.co_freevars)
    fn = types.FunctionType(code, outer_fn.__globals__, names[-1], None, cells)
    fn.__qualname__ = code.co_qualname
    return fn


def _find_code(code: types.CodeType, qualname: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname:
                return const
            if qualname.startswith(const.co_qualname + "."):
                found = _find_code(const, qualname)
                if found is not None:
                    return found
    return None


class _StepBundleLoader(_LoaderBase):
    def __init__(self, project: Project, module: str, path: Path) -> None:
        self._project = project
        self._module = module
        self._path = path

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        result = self._project.compiled(self._module)
        code = compile(result.step_bundle, str(self._path), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - this IS the module's code


class _StepBundleFinder(_FinderBase):
    def __init__(self, project: Project) -> None:
        self._project = project

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        loc = self._project.locate(fullname)
        if loc is None:
            return None
        loader = _StepBundleLoader(self._project, fullname, loc.path)
        return importlib.util.spec_from_file_location(
            fullname,
            loc.path,
            loader=loader,
            submodule_search_locations=[str(loc.path.parent)] if loc.is_package else None,
        )


_default: Project | None = None


def default_project() -> Project:
    """The process-wide project (the current directory unless set)."""
    global _default
    if _default is None:
        roots = os.environ.get("WDK_PATH")
        _default = Project(roots.split(os.pathsep) if roots else None)
    return _default


def set_default_project(project: Project) -> None:
    """Make ``project`` the process-wide one (workers and tests do this)."""
    global _default
    _default = project


def current_deployment(workflow_id: str) -> str | None:
    """The deployment a run of ``workflow_id`` started here is on.

    ``WDK_DEPLOYMENT_ID`` when set (``--deployment`` sets it), else the hash of the
    workflow's code in the default project (None when that code is not here).
    """
    explicit = os.environ.get("WDK_DEPLOYMENT_ID")
    if explicit:
        return explicit
    return default_project().code_version(workflow_id)


def workflow_id_of(fn: Any) -> str:
    """The workflow ID of a workflow function, stub or ID string."""
    if isinstance(fn, str):
        parse_id(fn)
        return fn
    ident = getattr(fn, "__wdk_workflow_id__", None)
    if isinstance(ident, str):
        return ident
    if not inspect.iscoroutinefunction(fn) or (fn.__doc__ or "").strip() != "use workflow":
        raise WorkflowNotRegisteredError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a workflow: a workflow is a "
            'module-level async def whose first statement is "use workflow".'
        )
    module = sys.modules.get(fn.__module__)
    is_pkg = module is not None and hasattr(module, "__path__")
    return f"workflow//{relpath_of(fn.__module__, is_pkg)}//{fn.__qualname__}"
