"""Token usage and finish reasons in the AI SDK's vocabulary.

pydantic-ai reports ``RequestUsage`` (``input_tokens``, ``output_tokens``,
``cache_read_tokens``, ``output_reasoning_tokens``...) and finish reasons such as
``tool_call``; results and chunks use the AI SDK's ``LanguageModelUsage`` keys and finish
reasons instead. Usage is a plain dict so it crosses step boundaries as data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["EMPTY_USAGE", "FINISH_REASONS", "add_usage", "finish_reason", "normalize_usage"]

#: The AI SDK's finish reasons.
FINISH_REASONS = ("stop", "length", "content-filter", "tool-calls", "error", "other")

_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content-filter",
    "tool_call": "tool-calls",
    "error": "error",
}

_KEYS = ("inputTokens", "outputTokens", "totalTokens", "reasoningTokens", "cachedInputTokens")

#: Usage of nothing.
EMPTY_USAGE: Mapping[str, int] = dict.fromkeys(_KEYS, 0)


def normalize_usage(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """pydantic-ai ``RequestUsage`` (as a JSON dict) -> AI SDK usage keys."""
    usage = usage or {}
    inp = int(usage.get("input_tokens") or 0)
    out = int(usage.get("output_tokens") or 0)
    return {
        "inputTokens": inp,
        "outputTokens": out,
        "totalTokens": inp + out,
        "reasoningTokens": int(usage.get("output_reasoning_tokens") or 0),
        "cachedInputTokens": int(usage.get("cache_read_tokens") or 0),
    }


def add_usage(usages: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The key-by-key sum of AI SDK usage dicts."""
    total = dict(EMPTY_USAGE)
    for usage in usages:
        for key in _KEYS:
            total[key] += int(usage.get(key, 0))
    return total


def finish_reason(raw: str | None, *, has_tool_calls: bool) -> str:
    """A pydantic-ai finish reason -> one of :data:`FINISH_REASONS`."""
    if has_tool_calls:
        return "tool-calls"
    if raw is None:
        return "stop"
    return _FINISH.get(raw, "other")
