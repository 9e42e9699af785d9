"""wdk: durable workflows for Python.

This namespace is what workflow and step code imports. Client-side calls (``start``,
``get_run``, ...) live in :mod:`wdk.api`.

Every public name is loaded on first use (module ``__getattr__``), so ``import wdk`` costs a
few milliseconds and pulls in no world, worker or server: a CLI command, a worker and workflow
code each import only what they touch. ``from wdk import X`` and ``wdk.X`` work as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real imports, for type checkers; keep in step with _LAZY below
    from wdk._http import Response
    from wdk._webhooks import Webhook, WebhookRequest, create_webhook
    from wdk._workflow_api import (
        Hook,
        HookDefinition,
        create_hook,
        define_hook,
        deprecate_patch,
        fetch,
        patched,
        race,
        sleep,
    )
    from wdk.errors import (
        AllocationLimitError,
        AmbiguousRunIdError,
        BudgetExceededError,
        BuildError,
        DurationError,
        FatalError,
        HookConflictError,
        HookNotFoundError,
        HookPayloadError,
        PatchError,
        QueueError,
        ReplayDivergenceError,
        RetryableError,
        RunStateError,
        SandboxError,
        ScheduleError,
        SerializationError,
        StepNotRegisteredError,
        WorkflowError,
        WorkflowNotRegisteredError,
        WorkflowRunCancelledError,
        WorkflowRunFailedError,
        WorkflowRunNotFoundError,
        WorldError,
    )
    from wdk.runtime._metadata import (
        StepMetadata,
        WorkflowMetadata,
        get_step_metadata,
        get_workflow_metadata,
    )
    from wdk.runtime._queues import Queue
    from wdk.runtime._schedule_spec import Schedule, schedule
    from wdk.runtime._streams import WritableStream, get_writable

#: public name -> the module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "AllocationLimitError": "wdk.errors",
    "AmbiguousRunIdError": "wdk.errors",
    "BudgetExceededError": "wdk.errors",
    "BuildError": "wdk.errors",
    "DurationError": "wdk.errors",
    "FatalError": "wdk.errors",
    "Hook": "wdk._workflow_api",
    "HookConflictError": "wdk.errors",
    "HookDefinition": "wdk._workflow_api",
    "HookNotFoundError": "wdk.errors",
    "HookPayloadError": "wdk.errors",
    "PatchError": "wdk.errors",
    "Queue": "wdk.runtime._queues",
    "QueueError": "wdk.errors",
    "ReplayDivergenceError": "wdk.errors",
    "Response": "wdk._http",
    "RetryableError": "wdk.errors",
    "RunStateError": "wdk.errors",
    "SandboxError": "wdk.errors",
    "Schedule": "wdk.runtime._schedule_spec",
    "ScheduleError": "wdk.errors",
    "SerializationError": "wdk.errors",
    "StepMetadata": "wdk.runtime._metadata",
    "StepNotRegisteredError": "wdk.errors",
    "Webhook": "wdk._webhooks",
    "WebhookRequest": "wdk._webhooks",
    "WorkflowError": "wdk.errors",
    "WorkflowMetadata": "wdk.runtime._metadata",
    "WorkflowNotRegisteredError": "wdk.errors",
    "WorkflowRunCancelledError": "wdk.errors",
    "WorkflowRunFailedError": "wdk.errors",
    "WorkflowRunNotFoundError": "wdk.errors",
    "WorldError": "wdk.errors",
    "WritableStream": "wdk.runtime._streams",
    "create_hook": "wdk._workflow_api",
    "create_webhook": "wdk._webhooks",
    "define_hook": "wdk._workflow_api",
    "deprecate_patch": "wdk._workflow_api",
    "fetch": "wdk._workflow_api",
    "get_step_metadata": "wdk.runtime._metadata",
    "get_workflow_metadata": "wdk.runtime._metadata",
    "get_writable": "wdk.runtime._streams",
    "patched": "wdk._workflow_api",
    "race": "wdk._workflow_api",
    "schedule": "wdk.runtime._schedule_spec",
    "sleep": "wdk._workflow_api",
}

__all__ = [
    "AllocationLimitError",
    "AmbiguousRunIdError",
    "BudgetExceededError",
    "BuildError",
    "DurationError",
    "FatalError",
    "Hook",
    "HookConflictError",
    "HookDefinition",
    "HookNotFoundError",
    "HookPayloadError",
    "PatchError",
    "Queue",
    "QueueError",
    "ReplayDivergenceError",
    "Response",
    "RetryableError",
    "RunStateError",
    "SandboxError",
    "Schedule",
    "ScheduleError",
    "SerializationError",
    "StepMetadata",
    "StepNotRegisteredError",
    "Webhook",
    "WebhookRequest",
    "WorkflowError",
    "WorkflowMetadata",
    "WorkflowNotRegisteredError",
    "WorkflowRunCancelledError",
    "WorkflowRunFailedError",
    "WorkflowRunNotFoundError",
    "WorldError",
    "WritableStream",
    "create_hook",
    "create_webhook",
    "define_hook",
    "deprecate_patch",
    "fetch",
    "get_step_metadata",
    "get_workflow_metadata",
    "get_writable",
    "patched",
    "race",
    "schedule",
    "sleep",
]


if not TYPE_CHECKING:  # hidden from type checkers: `from wdk import Typo` stays an error

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            # ``import wdk; wdk.errors.X`` kept working when this file imported everything eagerly.
            from importlib.util import find_spec

            if name.startswith("_") or find_spec(f"wdk.{name}") is None:
                raise AttributeError(f"module 'wdk' has no attribute {name!r}")
            return importlib.import_module(f"wdk.{name}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})
