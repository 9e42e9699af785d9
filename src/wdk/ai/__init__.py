"""Durable AI agents: every model call and step tool is a durable step.

``DurableAgent`` runs a tool-calling loop inside a workflow and streams Vercel AI SDK UI
message chunks to a writable, so a ``useChat`` client can render and resume it. Model
factories that keep keys out of the event log are in :mod:`wdk.ai.providers`.

``WdkDurability`` is the other way in: a capability that makes an unmodified pydantic-ai
``Agent`` durable inside a workflow (each model request and tool call one step). It is imported
on first use, so ``import wdk.ai`` stays free of pydantic-ai's durable-execution machinery.
See docs/ai.md.
"""

from typing import TYPE_CHECKING, Any

from wdk.ai._agent import AgentResult, DurableAgent, StepResult, ToolApproval
from wdk.ai._chat import chat_app, chat_hook_token
from wdk.ai._output import Output, OutputSpec
from wdk.ai._tools import Tool, tool
from wdk.ai._ui_chunks import DEFAULT_UI_STREAM_VERSION, UI_STREAM_FIELDS

if TYPE_CHECKING:
    from wdk.ai._durability import WdkDurability

__all__ = [
    "AgentResult",
    "DEFAULT_UI_STREAM_VERSION",
    "DurableAgent",
    "Output",
    "OutputSpec",
    "StepResult",
    "Tool",
    "ToolApproval",
    "UI_STREAM_FIELDS",
    "WdkDurability",
    "chat_app",
    "chat_hook_token",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name == "WdkDurability":
        from wdk.ai._durability import WdkDurability

        return WdkDurability
    raise AttributeError(f"module 'wdk.ai' has no attribute {name!r}")
