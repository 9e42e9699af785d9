"""A deterministic OpenAI-compatible chat completions server for the research assistant demo.

No model, no network: the reply is decided from the conversation sent in the request, so the
demo (and its test) runs offline and gives the same answer every time.

* the last message is the user's: it calls a tool. ``publish`` in the text -> ``publish_report``
  (approval-gated), ``wait``/``later`` -> ``wait`` (seconds: the first number in the text,
  default 2), anything else -> ``search`` with the text as the query;
* the last message is a tool result: it answers in text, streamed word by word.

Run it::

    python fake_openai.py --port 8787      # prints: fake-openai: listening on http://127.0.0.1:8787/v1
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "fake-research"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _tool_name(messages: list[dict[str, Any]], call_id: str) -> str:
    for message in messages:
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                return str(call["function"]["name"])
    return ""


def _first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def decide(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The scripted reply: ``{"text": str}`` or ``{"tool": name, "args": {...}, "id": ...}``."""
    last = messages[-1] if messages else {"role": "user", "content": ""}
    if last.get("role") == "tool":
        name = _tool_name(messages, str(last.get("tool_call_id", "")))
        result = _text(last.get("content"))
        if name == "search":
            try:
                hits = json.loads(result)
            except ValueError:
                hits = []
            titles = "; ".join(h.get("title", "?") for h in hits if isinstance(h, dict))
            query = _first_user_text(messages)
            found = (
                f"I found {len(hits)} sources on {query!r}: {titles}."
                if hits
                else (f"I found nothing on {query!r}.")
            )
            return {"text": f"{found} In short: durable workflows survive crashes and restarts."}
        if name == "wait":
            return {"text": f"Back after the pause ({result}). Anything else to research?"}
        if name == "publish_report":
            if result.startswith("published"):
                return {"text": f"Done: {result}."}
            return {"text": f"Understood: the report was not published ({result})."}
        return {"text": f"The tool said: {result}"}
    text = _text(last.get("content"))
    lowered = text.lower()
    call_id = f"call_{len(messages)}"
    if "publish" in lowered:
        args = {"title": "Durable execution", "summary": "Workflows that survive crashes."}
        return {"tool": "publish_report", "args": args, "id": call_id}
    if "wait" in lowered or "later" in lowered:
        number = re.search(r"\d+(?:\.\d+)?", text)
        return {
            "tool": "wait",
            "args": {"seconds": float(number.group()) if number else 2.0},
            "id": call_id,
        }
    return {"tool": "search", "args": {"query": text}, "id": call_id}


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def _words(text: str) -> Iterator[str]:
    for i, word in enumerate(text.split(" ")):
        yield word if i == 0 else " " + word


async def _events(reply: dict[str, Any]) -> AsyncIterator[str]:
    yield _chunk({"role": "assistant", "content": ""})
    if "text" in reply:
        for piece in _words(reply["text"]):
            yield _chunk({"content": piece})
        finish = "stop"
    else:
        fn = {"name": reply["tool"], "arguments": json.dumps(reply["args"])}
        call = {"index": 0, "id": reply["id"], "type": "function", "function": fn}
        yield _chunk({"tool_calls": [call]})
        finish = "tool_calls"
    yield _chunk({}, finish)
    yield _chunk({}, usage={"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30})
    yield "data: [DONE]\n\n"


async def completions(request: Request) -> Response:
    """``POST /v1/chat/completions`` (streaming or not)."""
    body = await request.json()
    reply = decide(body.get("messages", []))
    if body.get("stream"):
        return StreamingResponse(_events(reply), media_type="text/event-stream")
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("text")}
    if "tool" in reply:
        fn = {"name": reply["tool"], "arguments": json.dumps(reply["args"])}
        message["tool_calls"] = [{"id": reply["id"], "type": "function", "function": fn}]
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": "tool_calls" if "tool" in reply else "stop",
    }
    return JSONResponse(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [choice],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        }
    )


app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def main() -> None:
    """Serve on ``--host``/``--port`` until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    opts = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((opts.host, opts.port))
    port = sock.getsockname()[1]
    print(f"fake-openai: listening on http://{opts.host}:{port}/v1", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
