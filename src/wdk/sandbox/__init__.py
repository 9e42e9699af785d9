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
"""

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
