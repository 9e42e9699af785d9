"""The public surface: pinned names, docstrings, and an error tree that survives transport."""

from __future__ import annotations

import inspect
import pickle

import pytest

import wdk
import wdk.ai
import wdk.api
import wdk.errors
import wdk.runtime
import wdk.worlds
from wdk import serde

EXPECTED = {
    wdk: [
        "AllocationLimitError", "AmbiguousRunIdError", "BudgetExceededError", "BuildError",
        "DurationError", "FatalError", "Hook",
        "HookConflictError", "HookDefinition", "HookNotFoundError", "HookPayloadError",
        "PatchError", "Queue", "QueueError", "ReplayDivergenceError", "Response",
        "RetryableError", "RunStateError", "SandboxError", "Schedule", "ScheduleError",
        "SerializationError", "StepMetadata", "StepNotRegisteredError", "Webhook",
        "WebhookRequest", "WorkflowError", "WorkflowMetadata", "WorkflowNotRegisteredError",
        "WorkflowRunCancelledError",
        "WorkflowRunFailedError", "WorkflowRunNotFoundError", "WorldError", "WritableStream",
        "create_hook", "create_webhook", "define_hook", "deprecate_patch", "fetch",
        "get_step_metadata", "get_workflow_metadata", "get_writable", "patched", "race",
        "schedule", "sleep",
    ],
    wdk.ai: [
        "AgentResult", "DEFAULT_UI_STREAM_VERSION", "DurableAgent", "Output", "OutputSpec",
        "StepResult", "Tool", "ToolApproval", "UI_STREAM_FIELDS", "WdkDurability", "chat_app",
        "chat_hook_token", "tool",
    ],
    wdk.api: [
        "HookInfo", "HookResumeResult", "Run", "get_hook_by_token", "get_run", "get_world",
        "list_runs", "resume_hook", "resume_webhook", "set_world", "start",
    ],
    wdk.runtime: [
        "Project", "RetryPolicy", "StepFunction", "StepMetadata", "Worker", "WorkflowMetadata",
        "WorkflowStub", "default_project", "get_step_metadata", "get_workflow_metadata",
        "replay", "set_default_project", "step_decorator", "workflow_stub",
    ],
    wdk.worlds: ["DEFAULT_URL", "MemoryWorld", "SqliteWorld", "World", "open_world"],
}  # fmt: skip


@pytest.mark.parametrize("module", list(EXPECTED), ids=lambda m: m.__name__)
def test_exported_names_are_pinned_and_sorted(module):
    assert module.__all__ == EXPECTED[module]
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.{name} is exported but missing"


@pytest.mark.parametrize("module", list(EXPECTED), ids=lambda m: m.__name__)
def test_every_public_callable_has_a_docstring(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


ERRORS = [
    getattr(wdk.errors, name)
    for name in wdk.errors.__all__
    if inspect.isclass(getattr(wdk.errors, name))
    and issubclass(getattr(wdk.errors, name), BaseException)
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_a_workflow_error_that_survives_pickle_and_serde(cls):
    assert issubclass(cls, wdk.WorkflowError)
    assert getattr(wdk, cls.__name__) is cls
    err = cls("something went wrong")
    for copy in (pickle.loads(pickle.dumps(err)), serde.decode(serde.encode(err))):
        assert type(copy) is cls
        assert str(copy) == "something went wrong"
        assert copy.args == err.args


def test_keyword_fields_survive_serde():
    err = wdk.HookConflictError("taken", token="t1", conflicting_run_id="wrun_1")
    copy = serde.decode(serde.encode(err))
    assert (copy.token, copy.conflicting_run_id) == ("t1", "wrun_1")
    retry = serde.decode(serde.encode(wdk.RetryableError("later", retry_after="5m")))
    assert retry.retry_after == "5m"
