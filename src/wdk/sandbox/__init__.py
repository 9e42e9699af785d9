"""The deterministic sandbox workflow code runs in.

Workflow bundles are compiled with a RestrictedPython policy (:mod:`._policy`) and executed
with restricted builtins, guarded attribute reads and writes, and guarded imports: an
allow-list of deterministic modules, shims for ``time``/``datetime``/``random``/``uuid``/
``asyncio``, and the user's own modules loaded fresh per run. Anything else raises
:class:`wdk.SandboxError` at the user's file:line with what to do instead. See docs/sandbox.md.

The runtime uses::

    code = compile_workflow_code(source, filename, config=config)   # cached by content hash
    sandbox = WorkflowSandbox(resolve, injected={"__wdk_step__": step_decorator}, config=config)
    module = sandbox.import_module("orders")                         # fresh per sandbox (run)

``resolve(module_name) -> BundleSource | None`` gives a user module's workflow bundle (its
source and real filename), or None when the name is not a user module. Workers call
``ensure_hash_seed(sys.argv)`` first thing, so set iteration order is the same everywhere.

Names load on first use (module ``__getattr__``): the CLI checks the hash seed through
``ensure_hash_seed`` before anything heavy is imported, so re-executing costs little.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports, for type checkers; keep in step with _LAZY below
    from wdk.sandbox._cache import compile_workflow_code
    from wdk.sandbox._config import (
        DEFAULT,
        DEFAULT_ALLOWED_MODULES,
        DEFAULT_MAX_ALLOCATION,
        DEFAULT_WORKFLOW_BUDGET_S,
        SHIMMED_MODULES,
        SandboxConfig,
        load_config,
    )
    from wdk.sandbox._hashseed import ensure_hash_seed, hash_seed_ok
    from wdk.sandbox._limits import Limiter, SliceExpired
    from wdk.sandbox._sandbox import BundleSource, WorkflowSandbox, allows_import

#: public name -> the module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "BundleSource": "wdk.sandbox._sandbox",
    "DEFAULT": "wdk.sandbox._config",
    "DEFAULT_ALLOWED_MODULES": "wdk.sandbox._config",
    "DEFAULT_MAX_ALLOCATION": "wdk.sandbox._config",
    "DEFAULT_WORKFLOW_BUDGET_S": "wdk.sandbox._config",
    "Limiter": "wdk.sandbox._limits",
    "SHIMMED_MODULES": "wdk.sandbox._config",
    "SandboxConfig": "wdk.sandbox._config",
    "SliceExpired": "wdk.sandbox._limits",
    "WorkflowSandbox": "wdk.sandbox._sandbox",
    "allows_import": "wdk.sandbox._sandbox",
    "compile_workflow_code": "wdk.sandbox._cache",
    "ensure_hash_seed": "wdk.sandbox._hashseed",
    "hash_seed_ok": "wdk.sandbox._hashseed",
    "load_config": "wdk.sandbox._config",
}

__all__ = [
    "DEFAULT",
    "DEFAULT_ALLOWED_MODULES",
    "DEFAULT_MAX_ALLOCATION",
    "DEFAULT_WORKFLOW_BUDGET_S",
    "SHIMMED_MODULES",
    "BundleSource",
    "Limiter",
    "SandboxConfig",
    "SliceExpired",
    "WorkflowSandbox",
    "allows_import",
    "compile_workflow_code",
    "ensure_hash_seed",
    "hash_seed_ok",
    "load_config",
]


if not TYPE_CHECKING:  # hidden from type checkers: `from wdk import Typo` stays an error

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'wdk.sandbox' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
