"""The wdk compiler: ``"use workflow"`` / ``"use step"`` directives to bundles and a manifest.

Stable API (the runtime and the CLI call these; see docs/compiler.md and docs/internals.md):

* :func:`compile_source` ``(source, *, relpath, module) -> ModuleResult``: compile one module's
  text. Problems are :class:`Diagnostic` objects on the result (``result.ok`` is False on an
  error), never exceptions.
* :func:`load_module` ``(module, path, relpath) -> ModuleResult``: the same for a file, cached
  in memory and on disk by content hash (``.wdk/cache/compiler`` under the current directory,
  or ``$WDK_CACHE_DIR``). The runtime loads user modules through it, so ``wdk run`` needs no
  separate build.
* :func:`build_tree` ``(src, out, *, check=False, cache_dir=None) -> BuildResult``: compile a
  source tree and write ``workflow/<relpath>``, ``step/<relpath>`` and ``manifest.json``.
* :func:`module_relpath`, :func:`workflow_id`, :func:`step_id`: the ID format.

A :class:`ModuleResult` carries ``workflow_bundle`` (run in the sandbox), ``step_bundle``
(imported normally), ``workflows`` (:class:`WorkflowInfo`), ``steps`` (:class:`StepInfo`),
``pruned_imports``, ``diagnostics``, ``sha256`` and ``has_directives``.

Names load on first use (module ``__getattr__``): a warm ``load_module`` reads its cache
entry without importing the compiler proper (``wdk run`` on an unchanged project).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports, for type checkers; keep in step with _LAZY below
    from wdk.compiler._build import build_tree
    from wdk.compiler._cache import default_cache_dir, load_module
    from wdk.compiler._compile import compile_source
    from wdk.compiler._diagnostics import Diagnostic
    from wdk.compiler._ids import module_relpath, step_id, workflow_id
    from wdk.compiler._manifest import build_manifest, dump_manifest
    from wdk.compiler._model import BuildResult, ModuleResult, StepInfo, WorkflowInfo

#: public name -> the module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "BuildResult": "wdk.compiler._model",
    "Diagnostic": "wdk.compiler._diagnostics",
    "ModuleResult": "wdk.compiler._model",
    "StepInfo": "wdk.compiler._model",
    "WorkflowInfo": "wdk.compiler._model",
    "build_manifest": "wdk.compiler._manifest",
    "build_tree": "wdk.compiler._build",
    "compile_source": "wdk.compiler._compile",
    "default_cache_dir": "wdk.compiler._cache",
    "dump_manifest": "wdk.compiler._manifest",
    "load_module": "wdk.compiler._cache",
    "module_relpath": "wdk.compiler._ids",
    "step_id": "wdk.compiler._ids",
    "workflow_id": "wdk.compiler._ids",
}

__all__ = [
    "BuildResult",
    "Diagnostic",
    "ModuleResult",
    "StepInfo",
    "WorkflowInfo",
    "build_manifest",
    "build_tree",
    "compile_source",
    "default_cache_dir",
    "dump_manifest",
    "load_module",
    "module_relpath",
    "step_id",
    "workflow_id",
]


if not TYPE_CHECKING:  # hidden from type checkers: `from wdk import Typo` stays an error

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'wdk.compiler' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
