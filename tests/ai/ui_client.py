"""A Python stand-in for the AI SDK client's processUIMessageStream: what a user would see."""

from __future__ import annotations

from typing import Any


class ProtocolError(AssertionError):
    pass


def render(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply chunks like the AI SDK client does; strict about ids like the real one."""
    parts: list[dict[str, Any]] = []
    active: dict[str, dict[str, Any]] = {}
    tools: dict[str, dict[str, Any]] = {}
    finishes = 0
    for chunk in chunks:
        if finishes:
            raise ProtocolError(f"chunk after finish: {chunk}")
        kind = chunk["type"]
        if kind in ("text-start", "reasoning-start"):
            part = {"type": kind.split("-")[0], "text": ""}
            parts.append(part)
            active[chunk["id"]] = part
        elif kind in ("text-delta", "reasoning-delta"):
            if chunk["id"] not in active:
                raise ProtocolError(f"delta for a part that is not open: {chunk}")
            active[chunk["id"]]["text"] += chunk["delta"]
        elif kind in ("text-end", "reasoning-end"):
            if active.pop(chunk["id"], None) is None:
                raise ProtocolError(f"end for a part that is not open: {chunk}")
        elif kind == "start-step":
            parts.append({"type": "step-start"})
        elif kind == "finish-step":
            active.clear()
        elif kind.startswith("tool-"):
            call_id = chunk["toolCallId"]
            if call_id not in tools:
                tools[call_id] = {"type": "tool", "toolCallId": call_id}
                parts.append(tools[call_id])
            tools[call_id].update({k: v for k, v in chunk.items() if k != "type"}, state=kind)
        elif kind == "finish":
            finishes += 1
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    return {"parts": parts, "text": text, "finishes": finishes, "tools": tools}


async def read_all(run: Any) -> list[dict[str, Any]]:
    return [chunk async for chunk in run.get_readable()]
