"""A real `wdk serve --chat ...` subprocess on 127.0.0.1 and a UI-message-stream reader."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serve import WDK, launch, serve_env, stop_process

HERE = Path(__file__).resolve().parent
FLOWS = HERE / "flows"


@dataclass
class ChatServer:
    url: str
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)


def serve_chat(
    tmp: Path,
    chat: str,
    *,
    root: Path = FLOWS,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> ChatServer:
    """Start `wdk serve --port 0 --chat CHAT` and return once it printed its address."""
    cmd = [WDK, "serve", "--port", "0", "--root", str(root), "--world"]
    cmd += [f"sqlite:///{tmp / 'wdk.db'}", "--chat", chat, *args]
    return ChatServer(*launch(cmd, tmp, serve_env(tmp, env)))


def stop_chat(server: ChatServer) -> None:
    stop_process(server.proc)


def user(text: str, ident: str = "u1") -> dict[str, Any]:
    """An AI SDK UIMessage from the user, as useChat sends it."""
    return {"id": ident, "role": "user", "parts": [{"type": "text", "text": text}]}


def ui_chunks(resp: httpx.Response, limit: int | None = None) -> Iterator[Any]:
    """The UI message chunks of an SSE body (``data: <json>`` events; comments skipped)."""
    n = 0
    for line in resp.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])
            n += 1
            if limit is not None and n >= limit:
                return


def post_chat(
    client: httpx.Client, body: dict[str, Any], *, prefix: str = "/api/chat"
) -> tuple[httpx.Response, list[Any]]:
    """POST as WorkflowChatTransport does (a JSON string body, so text/plain) and read it all."""
    headers = {"content-type": "text/plain;charset=UTF-8"}
    with client.stream("POST", prefix, content=json.dumps(body), headers=headers) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp, []
        return resp, list(ui_chunks(resp))


def get_stream(
    client: httpx.Client, run_id: str, start: int | None = None, **params: Any
) -> tuple[httpx.Response, list[Any]]:
    """GET /api/chat/{run_id}/stream?startIndex=... and read it to the end."""
    if start is not None:
        params["startIndex"] = start
    with client.stream("GET", f"/api/chat/{run_id}/stream", params=params) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp, []
        return resp, list(ui_chunks(resp))


def expected_turn(text: str, turn: int) -> list[dict[str, Any]]:
    """What chat_fixture writes for one answered turn."""
    words = f"turn {turn}: you said {text}".split(" ")
    tid = f"t{turn}"
    deltas = [
        {"type": "text-delta", "id": tid, "delta": w if i == 0 else " " + w}
        for i, w in enumerate(words)
    ]
    return [
        {"type": "start", "messageId": f"m{turn}"},
        {"type": "text-start", "id": tid},
        *deltas,
        {"type": "text-end", "id": tid},
        {"type": "finish"},
    ]
