"""A scripted OpenAI-compatible chat completions server on 127.0.0.1 (SSE streaming)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer: text deltas and/or tool calls, or an HTTP error, or a cut stream."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    usage: tuple[int, int] = (10, 5)
    status: int = 200
    cut_after: int | None = None  # drop the connection after this many text deltas


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-gpt",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def _completion(reply: Reply) -> dict[str, Any]:
    """A non-streamed chat completion (``"stream": false`` requests)."""
    calls = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(a)}}
        for call_id, name, a in reply.tool_calls
    ]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text) or None}
    if calls:
        message["tool_calls"] = calls
    p, c = reply.usage
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-gpt",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
    }


class _Cut(Exception):
    pass


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.script.pop(0) if self.script else Reply(text=["(script exhausted)"])
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "boom", "type": "server_error"}}, reply.status
            )
        if not body.get("stream"):
            return JSONResponse(_completion(reply))

        async def events() -> AsyncIterator[str]:
            yield _chunk({"role": "assistant", "content": ""})
            for i, piece in enumerate(reply.text):
                if reply.cut_after is not None and i >= reply.cut_after:
                    raise _Cut("connection cut by the fake server")
                yield _chunk({"content": piece})
            for n, (call_id, name, args) in enumerate(reply.tool_calls):
                fn = {"name": name, "arguments": json.dumps(args)}
                yield _chunk(
                    {
                        "tool_calls": [
                            {"index": n, "id": call_id, "type": "function", "function": fn}
                        ]
                    }
                )
            yield _chunk({}, "tool_calls" if reply.tool_calls else "stop")
            p, c = reply.usage
            yield _chunk(
                {}, usage={"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
            )
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def __enter__(self) -> FakeOpenAI:
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="critical", lifespan="off")
        self._server = uvicorn.Server(config)
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            original = self._server.startup

            async def startup(sockets: Any = None) -> None:
                await original(sockets=sockets)
                started.set()

            self._server.startup = startup  # type: ignore[method-assign]
            try:
                loop.run_until_complete(self._server.serve(sockets=[sock]))
            finally:
                loop.close()
                sock.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)
