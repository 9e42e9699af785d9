"""Conversation messages: AI SDK dicts in and out, pydantic-ai JSON across the model step.

The agent keeps the conversation as AI SDK *model messages* (plain dicts, see docs/ai.md).
Before each model call it converts them to pydantic-ai messages in their
``ModelMessagesTypeAdapter`` JSON form (``{"kind": "request", "parts": [{"part_kind": ...}]}``);
the model step validates that JSON with the adapter, and returns the model's response in the
same form, which :func:`assistant_message` turns back into an AI SDK assistant message.

Everything here is pure and deterministic: it runs in workflow code. Timestamps are left out
of the JSON on purpose (pydantic-ai fills them in inside the step, where time is allowed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "assistant_message",
    "response_tool_calls",
    "to_model_messages",
    "to_pydantic_ai",
    "tool_message",
    "tool_output",
    "ui_message",
]

Message = dict[str, Any]


# -- AI SDK input: model messages and UI messages -----------------------------------------


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(p) for p in content or ()]


def _tool_part_name(part: Mapping[str, Any]) -> str | None:
    kind = str(part.get("type", ""))
    if kind == "dynamic-tool":
        return str(part.get("toolName", ""))
    if kind.startswith("tool-"):
        return kind[len("tool-") :]
    return None


def _ui_tool_result(part: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    state = part.get("state")
    base = {"type": "tool-result", "toolCallId": part["toolCallId"], "toolName": name}
    if state == "output-available":
        return {**base, "output": tool_output(part.get("output"))}
    if state == "output-error":
        return {**base, "output": {"type": "error-text", "value": str(part.get("errorText"))}}
    approval = part.get("approval") or {}
    if state == "output-denied" or (state == "approval-responded" and not approval.get("approved")):
        return {**base, "output": {"type": "execution-denied", "reason": approval.get("reason")}}
    return None


def _from_ui_assistant(parts: Sequence[Mapping[str, Any]]) -> list[Message]:
    """One assistant message (plus one tool message) per step of a UI message."""
    out: list[Message] = []
    content: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []

    def flush() -> None:
        if content:
            out.append({"role": "assistant", "content": list(content)})
        if results:
            out.append({"role": "tool", "content": list(results)})
        content.clear()
        results.clear()

    for part in parts:
        kind = part.get("type")
        name = _tool_part_name(part)
        if kind == "step-start":
            flush()
        elif kind in ("text", "reasoning"):
            content.append({"type": kind, "text": str(part.get("text", ""))})
        elif name is not None and part.get("state") not in (None, "input-streaming"):
            call_id = str(part["toolCallId"])
            content.append(
                {
                    "type": "tool-call",
                    "toolCallId": call_id,
                    "toolName": name,
                    "input": part.get("input"),
                }
            )
            result = _ui_tool_result(part, name)
            if result is not None:
                results.append(result)
    flush()
    return out


def to_model_messages(messages: Iterable[Mapping[str, Any]]) -> list[Message]:
    """AI SDK model and/or UI messages -> AI SDK model messages (new dicts)."""
    out: list[Message] = []
    for message in messages:
        if not isinstance(message, Mapping) or "role" not in message:
            raise ValueError(f"not a chat message (a dict with a 'role'): {message!r}")
        role = str(message["role"])
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown message role {role!r}")
        if "parts" in message and "content" not in message:
            parts = [dict(p) for p in message["parts"]]
            if role == "assistant":
                out.extend(_from_ui_assistant(parts))
                continue
            text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
            if role == "system":
                out.append({"role": "system", "content": text})
            else:
                out.append({"role": role, "content": [{"type": "text", "text": text}]})
            continue
        content = message.get("content", "")
        if role == "system":
            out.append({"role": "system", "content": str(content)})
        else:
            out.append({"role": role, "content": _text_parts(content)})
    return out


# -- AI SDK model messages -> pydantic-ai JSON ---------------------------------------------


def _return_part(part: Mapping[str, Any]) -> dict[str, Any]:
    output = part.get("output")
    outcome, content = "success", output
    if isinstance(output, Mapping) and "type" in output:
        kind = output["type"]
        if kind in ("error-text", "error-json"):
            outcome, content = "failed", output.get("value")
        elif kind == "execution-denied":
            outcome = "denied"
            content = output.get("reason") or "The tool call was denied by the user."
        elif kind == "content":
            content = [_pydantic_ai_content(p) for p in output.get("value") or ()]
        else:
            content = output.get("value")
    return {
        "part_kind": "tool-return",
        "tool_name": part.get("toolName", ""),
        "tool_call_id": part["toolCallId"],
        "content": content,
        "outcome": outcome,
    }


def _response_part(part: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return {"part_kind": "text", "content": str(part.get("text", ""))}
    if kind == "reasoning":
        return {"part_kind": "thinking", "content": str(part.get("text", ""))}
    if kind == "tool-call":
        return {
            "part_kind": "tool-call",
            "tool_name": part["toolName"],
            "tool_call_id": part["toolCallId"],
            "args": part.get("input") if part.get("input") is not None else {},
        }
    return None


def to_pydantic_ai(
    messages: Sequence[Mapping[str, Any]],
    *,
    instructions: str | None = None,
    system: str | None = None,
) -> list[dict[str, Any]]:
    """AI SDK model messages -> pydantic-ai messages in ``ModelMessagesTypeAdapter`` JSON."""
    out: list[dict[str, Any]] = []

    def request(parts: list[dict[str, Any]]) -> None:
        if out and out[-1]["kind"] == "request":
            out[-1]["parts"].extend(parts)
        else:
            out.append({"kind": "request", "parts": parts})

    if system:
        request([{"part_kind": "system-prompt", "content": system}])
    for message in messages:
        role, content = message["role"], message.get("content")
        if role == "system":
            request([{"part_kind": "system-prompt", "content": str(content)}])
        elif role == "user":
            text = [str(p.get("text", "")) for p in _text_parts(content) if p.get("type") == "text"]
            request([{"part_kind": "user-prompt", "content": "".join(text)}])
        elif role == "tool":
            request(
                [_return_part(p) for p in _text_parts(content) if p.get("type") == "tool-result"]
            )
        elif role == "assistant":
            parts = [p for p in map(_response_part, _text_parts(content)) if p is not None]
            out.append({"kind": "response", "parts": parts})
    if instructions:
        requests = [m for m in out if m["kind"] == "request"]
        if requests:
            requests[-1]["instructions"] = instructions
        else:
            out.append({"kind": "request", "parts": [], "instructions": instructions})
    return out


# -- pydantic-ai response -> AI SDK ----------------------------------------------------------


def response_tool_calls(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of a pydantic-ai response (JSON): ``toolCallId``, ``toolName``, ``input``."""
    calls = []
    for part in response.get("parts", ()):
        if part.get("part_kind") == "tool-call":
            args = part.get("args")
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except ValueError:
                    pass  # left as text: the tool's input validation reports it to the model
            calls.append(
                {"toolCallId": part["tool_call_id"], "toolName": part["tool_name"], "input": args}
            )
    return calls


def assistant_message(response: Mapping[str, Any]) -> Message:
    """A pydantic-ai response (JSON) as an AI SDK assistant model message."""
    calls = iter(response_tool_calls(response))
    content: list[dict[str, Any]] = []
    for part in response.get("parts", ()):
        kind = part.get("part_kind")
        if kind == "text":
            content.append({"type": "text", "text": part.get("content", "")})
        elif kind == "thinking":
            content.append({"type": "reasoning", "text": part.get("content", "")})
        elif kind == "tool-call":
            content.append({"type": "tool-call", **next(calls)})
    return {"role": "assistant", "content": content}


_URL_KINDS = {"image-url": "image-url", "document-url": "file-url"}
_URL_KINDS.update({"audio-url": "file-url", "video-url": "file-url"})


def _media_part(item: Any) -> dict[str, Any] | None:
    """A pydantic-ai multimodal value as an AI SDK v6 tool-result content part, else None.

    Duck-typed on pydantic-ai's ``kind`` tags, so workflow code never imports pydantic-ai:
    ``BinaryContent`` (``kind="binary"``) becomes ``image-data`` (image media types) or
    ``file-data`` with base64 ``data``; ``ImageUrl`` / ``DocumentUrl`` / ... become
    ``image-url`` / ``file-url``.
    """
    kind = getattr(item, "kind", None)
    data = getattr(item, "data", None)
    if kind == "binary" and isinstance(data, bytes):
        media = str(getattr(item, "media_type", "") or "application/octet-stream")
        return {
            "type": "image-data" if media.startswith("image/") else "file-data",
            "data": base64.b64encode(data).decode("ascii"),
            "mediaType": media,
        }
    url = getattr(item, "url", None)
    if kind in _URL_KINDS and isinstance(url, str):
        return {"type": _URL_KINDS[kind], "url": url}
    return None


def _text_part(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"type": "text", "text": value}
    return {"type": "text", "text": json.dumps(value, default=str)}


def _content_output(value: Any) -> dict[str, Any] | None:
    """The AI SDK ``{"type": "content"}`` output of a multimodal tool result, else None.

    Multimodal: a pydantic-ai ``ToolReturn`` (its ``return_value``, then its ``content``), a
    multimodal value, or a list holding one (other items become text parts).
    """
    if getattr(value, "kind", None) == "tool-return" and hasattr(value, "return_value"):
        extra = value.content
        items = [value.return_value, *([extra] if isinstance(extra, str) else extra or ())]
    elif _media_part(value) is not None:
        items = [value]
    elif isinstance(value, list | tuple) and any(_media_part(v) is not None for v in value):
        items = list(value)
    else:
        return None
    parts = [_media_part(item) or _text_part(item) for item in items]
    return {"type": "content", "value": parts}


def _pydantic_ai_content(part: Mapping[str, Any]) -> Any:
    """An AI SDK tool-result content part as pydantic-ai content (JSON form)."""
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind in ("image-data", "file-data", "media"):
        media = str(part.get("mediaType") or "application/octet-stream")
        return {"kind": "binary", "data": part.get("data", ""), "media_type": media}
    if kind in ("image-url", "file-url"):
        # pydantic-ai recognises a content dict as multimodal by its full key set.
        target = "image-url" if kind == "image-url" else "document-url"
        return {"kind": target, "url": part.get("url", ""), "media_type": part.get("mediaType")}
    return json.dumps(dict(part), default=str)


def tool_output(value: Any) -> dict[str, Any]:
    """A tool's return value as an AI SDK ``ToolResultOutput``.

    Text is ``text``, multimodal results (pydantic-ai ``BinaryContent``, ``ImageUrl``, ...,
    ``ToolReturn``, or a list mixing them with text) are ``content`` with AI SDK v6 parts
    (``text``, ``image-data``, ``file-data``, ``image-url``, ``file-url``), anything else is
    ``json``. Values already in one of these forms are kept.
    """
    content = _content_output(value)
    if content is not None:
        return content
    if (
        isinstance(value, Mapping)
        and value.get("type")
        in ("text", "json", "error-text", "error-json", "execution-denied", "content")
        and ("value" in value or value.get("type") == "execution-denied")
    ):
        return dict(value)
    if isinstance(value, str):
        return {"type": "text", "value": value}
    return {"type": "json", "value": value}


def tool_message(results: Sequence[Mapping[str, Any]]) -> Message:
    """Tool outcomes (see ``_tools.ToolOutcome.as_result``) as an AI SDK tool message."""
    return {"role": "tool", "content": [dict(r) for r in results]}


def ui_message(message_id: str, steps: Sequence[Any]) -> Message:
    """The turn's answer as one AI SDK UI message (parts per step, as ``useChat`` builds it)."""
    parts: list[dict[str, Any]] = []
    for step in steps:
        parts.append({"type": "step-start"})
        for item in step.content:
            if item["type"] in ("text", "reasoning"):
                parts.append({"type": item["type"], "text": item["text"], "state": "done"})
        for call in step.tool_calls:
            part: dict[str, Any] = {
                "type": f"tool-{call['toolName']}",
                "toolCallId": call["toolCallId"],
                "input": call.get("input"),
            }
            result = next(
                (r for r in step.tool_results if r["toolCallId"] == call["toolCallId"]), None
            )
            output = (result or {}).get("output") or {}
            if output.get("type") in ("error-text", "error-json"):
                part.update(state="output-error", errorText=str(output.get("value")))
            elif output.get("type") == "execution-denied":
                part.update(state="output-denied")
            elif output.get("type") == "content":
                part.update(state="output-available", output=output)  # as the chunk has it
            elif result is not None:
                part.update(state="output-available", output=output.get("value"))
            else:
                part.update(state="input-available")
            parts.append(part)
    return {"id": message_id, "role": "assistant", "parts": parts}
