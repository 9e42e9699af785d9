"""``get_step_metadata()`` and ``get_workflow_metadata()``."""

from __future__ import annotations

import datetime as _dt
from contextvars import ContextVar
from dataclasses import dataclass

from wdk._context import current_or_none
from wdk.errors import WorkflowError

__all__ = ["StepMetadata", "WorkflowMetadata", "get_step_metadata", "get_workflow_metadata"]


@dataclass(frozen=True, slots=True)
class StepMetadata:
    """About the running step attempt.

    ``step_id`` is stable across retries of one call (use it as an idempotency key);
    ``attempt`` starts at 1.
    """

    step_id: str
    step_name: str
    attempt: int
    step_started_at: _dt.datetime


@dataclass(frozen=True, slots=True)
class WorkflowMetadata:
    """About the run a workflow or step belongs to."""

    workflow_name: str
    workflow_run_id: str
    workflow_started_at: _dt.datetime
    url: str


_step: ContextVar[StepMetadata | None] = ContextVar("wdk_step_metadata", default=None)
_workflow: ContextVar[WorkflowMetadata | None] = ContextVar("wdk_step_workflow", default=None)


def get_step_metadata() -> StepMetadata:
    """Metadata of the running step attempt. Only callable inside a step."""
    meta = _step.get()
    if meta is None:
        raise WorkflowError(
            "get_step_metadata() can only be called inside a step (a function whose first "
            'statement is "use step") while the step runs. In workflow code, use '
            "get_workflow_metadata()."
        )
    return meta


def get_workflow_metadata() -> WorkflowMetadata:
    """Metadata of the current run, from workflow code or from a step."""
    ctx = current_or_none()
    if ctx is not None:
        meta: WorkflowMetadata = ctx.metadata  # type: ignore[attr-defined]
        return meta
    meta_or_none = _workflow.get()
    if meta_or_none is None:
        raise WorkflowError(
            "get_workflow_metadata() can only be called in workflow code or inside a step "
            "while it runs."
        )
    return meta_or_none
