"""AI SDK UI message stream chunks, and which fields each client version accepts.

The AI SDK validates incoming chunks with strict schemas: a v5 client (and v6 before 6.0.39)
rejects a chunk carrying a field it does not know, and every client rejects unknown chunk
types. So every chunk the agent writes passes through :func:`for_version`, driven by the one
table below. Chunks are built as plain dicts with camelCase keys; ``data-*`` chunks are
open-ended by design.

v7's UI message stream equals v6's (pydantic-ai's ``ui.vercel_ai`` states the same), so the
table lists 5 and 6 and maps 7 onto 6.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_UI_STREAM_VERSION", "UI_STREAM_FIELDS", "for_version", "check_version"]

#: The current AI SDK major (``npm view ai version`` reports 7.x).
DEFAULT_UI_STREAM_VERSION = 7

_V5: dict[str, frozenset[str]] = {
    "start": frozenset({"messageId", "messageMetadata"}),
    "start-step": frozenset(),
    "finish-step": frozenset(),
    "finish": frozenset({"messageMetadata"}),
    "error": frozenset({"errorText"}),
    "text-start": frozenset({"id", "providerMetadata"}),
    "text-delta": frozenset({"id", "delta", "providerMetadata"}),
    "text-end": frozenset({"id", "providerMetadata"}),
    "reasoning-start": frozenset({"id", "providerMetadata"}),
    "reasoning-delta": frozenset({"id", "delta", "providerMetadata"}),
    "reasoning-end": frozenset({"id", "providerMetadata"}),
    "tool-input-start": frozenset({"toolCallId", "toolName", "providerExecuted", "dynamic"}),
    "tool-input-delta": frozenset({"toolCallId", "inputTextDelta"}),
    "tool-input-available": frozenset(
        {"toolCallId", "toolName", "input", "providerExecuted", "providerMetadata", "dynamic"}
    ),
    "tool-output-available": frozenset(
        {"toolCallId", "output", "providerExecuted", "dynamic", "preliminary"}
    ),
    "tool-output-error": frozenset({"toolCallId", "errorText", "providerExecuted", "dynamic"}),
    "message-metadata": frozenset({"messageMetadata"}),
}

_V6: dict[str, frozenset[str]] = {
    **_V5,
    "finish": _V5["finish"] | {"finishReason"},
    "tool-input-start": _V5["tool-input-start"] | {"providerMetadata"},
    "tool-approval-request": frozenset({"approvalId", "toolCallId"}),
    "tool-output-denied": frozenset({"toolCallId"}),
}

#: Version -> chunk type -> the fields (besides ``type``) that client version accepts.
UI_STREAM_FIELDS: Mapping[int, Mapping[str, frozenset[str]]] = {5: _V5, 6: _V6, 7: _V6}

_DATA_FIELDS = frozenset({"id", "data", "transient"})


def check_version(version: int) -> int:
    """``version`` if it is a supported UI stream version, else ValueError."""
    if version not in UI_STREAM_FIELDS:
        raise ValueError(
            f"ui_stream_version must be one of {sorted(UI_STREAM_FIELDS)}, got {version!r}"
        )
    return version


def _downgrade(chunk: Mapping[str, Any], version: int) -> dict[str, Any] | None:
    """Approval chunks for clients without them (v5): a data part and a tool error."""
    kind = chunk["type"]
    if kind == "tool-approval-request":
        data = {
            k: chunk[k] for k in ("approvalId", "toolCallId", "toolName", "input") if k in chunk
        }
        return {"type": "data-tool-approval-request", "id": chunk["approvalId"], "data": data}
    if kind == "tool-output-denied":
        reason = chunk.get("reason") or "The tool call was denied."
        return {"type": "tool-output-error", "toolCallId": chunk["toolCallId"], "errorText": reason}
    return None


def for_version(chunk: Mapping[str, Any], version: int) -> dict[str, Any] | None:
    """The chunk as a client of ``version`` accepts it, or None to drop it.

    Unknown fields and ``None`` values are removed; chunk types the version lacks are mapped
    to an equivalent (see :func:`_downgrade`) or dropped.
    """
    table = UI_STREAM_FIELDS[version]
    kind = str(chunk["type"])
    if kind.startswith("data-"):
        allowed = _DATA_FIELDS
    elif kind in table:
        allowed = table[kind]
    else:
        lowered = _downgrade(chunk, version)
        return None if lowered is None else for_version(lowered, version)
    out: dict[str, Any] = {"type": kind}
    for key, value in chunk.items():
        if key in allowed and value is not None:
            out[key] = value
    return out
