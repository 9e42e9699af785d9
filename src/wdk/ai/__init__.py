"""Durable AI agents: every model call and step tool is a durable step.

``DurableAgent`` runs a tool-calling loop inside a workflow and streams Vercel AI SDK UI
message chunks to a writable, so a ``useChat`` client can render and resume it. Model
factories that keep keys out of the event log are in :mod:`wdk.ai.providers`. See docs/ai.md.
"""

from wdk.ai._agent import AgentResult, DurableAgent, StepResult
from wdk.ai._chat import chat_app, chat_hook_token
from wdk.ai._output import Output, OutputSpec
from wdk.ai._tools import Tool, tool
from wdk.ai._ui_chunks import DEFAULT_UI_STREAM_VERSION, UI_STREAM_FIELDS

__all__ = [
    "DEFAULT_UI_STREAM_VERSION",
    "UI_STREAM_FIELDS",
    "AgentResult",
    "DurableAgent",
    "Output",
    "OutputSpec",
    "StepResult",
    "Tool",
    "chat_app",
    "chat_hook_token",
    "tool",
]
