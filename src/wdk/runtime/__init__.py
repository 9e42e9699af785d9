"""The engine: replay, scheduling, step execution and the worker loop.

Public here: what bundles and embedders need. Everything else is private.
"""

from wdk.runtime._executor import RetryPolicy
from wdk.runtime._loader import Project, default_project, set_default_project
from wdk.runtime._metadata import (
    StepMetadata,
    WorkflowMetadata,
    get_step_metadata,
    get_workflow_metadata,
)
from wdk.runtime._proxies import StepFunction, WorkflowStub, step_decorator, workflow_stub
from wdk.runtime._replay import replay
from wdk.runtime._worker import Worker

__all__ = [
    "Project",
    "RetryPolicy",
    "StepFunction",
    "StepMetadata",
    "Worker",
    "WorkflowMetadata",
    "WorkflowStub",
    "default_project",
    "get_step_metadata",
    "get_workflow_metadata",
    "replay",
    "set_default_project",
    "step_decorator",
    "workflow_stub",
]
