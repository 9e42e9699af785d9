"""wdk: durable workflows for Python.

This namespace is what workflow and step code imports. Client-side calls (``start``,
``get_run``, ...) live in :mod:`wdk.api`.
"""

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
    AmbiguousRunIdError,
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
from wdk.runtime._streams import WritableStream, get_writable

__all__ = [
    "AmbiguousRunIdError",
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
    "sleep",
]
