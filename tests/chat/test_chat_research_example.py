"""examples/research_assistant end to end, offline: its fake OpenAI server, `wdk serve --chat`
and the real DurableAgent, one multi-turn run: search (a step), wait (a workflow-level durable
sleep), publish_report approved, then denied (an approval-gated step)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_harness import ChatServer, post_chat, serve_chat, stop_chat, ui_chunks, user

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research_assistant"


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "fake_openai.py"), "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=30)
        assert "listening on " in line, line
        yield line.rsplit("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai: str) -> Iterator[ChatServer]:
    tmp = tmp_path_factory.mktemp("research")
    srv = serve_chat(
        tmp,
        "research:research_chat",
        root=EXAMPLE,
        env={"OPENAI_BASE_URL": fake_openai, "RESEARCH_PUBLISHED": str(tmp / "published.jsonl")},
    )
    srv.log.append(str(tmp))  # where published.jsonl lands
    try:
        yield srv
    finally:
        stop_chat(srv)


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "text-delta")


def _tools(chunks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in chunks:
        if c["type"] == "tool-input-available":
            out[c["toolName"]] = {"input": c["input"], "id": c["toolCallId"]}
    for c in chunks:
        for tool in out.values():
            if c.get("toolCallId") == tool["id"] and c["type"].startswith("tool-output"):
                tool["outcome"] = c["type"]
                tool["output"] = c.get("output")
    return out


def _one_turn(chunks: list[dict[str, Any]]) -> None:
    types = [c["type"] for c in chunks]
    assert types[0] == "start" and types[-1] == "finish" and types.count("finish") == 1, types


def _publish_turn(
    client: httpx.Client, run_id: str, text: str, decision: dict[str, Any]
) -> list[Any]:
    """Ask to publish; answer the approval request through the hooks route mid-stream."""
    body = json.dumps({"messages": [user(text)], "runId": run_id})
    chunks = []
    with client.stream("POST", "/api/chat", content=body) as resp:
        assert resp.status_code == 200
        for chunk in ui_chunks(resp):
            chunks.append(chunk)
            if chunk["type"] == "tool-approval-request":
                assert chunk["approvalId"].startswith(f"{run_id}:")
                answered = client.post(f"/api/hooks/{chunk['approvalId']}", json=decision)
                assert answered.status_code == 200, answered.text
    return chunks


def test_research_assistant_conversation(server: ChatServer) -> None:
    published = Path(server.log[-1]) / "published.jsonl"
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(60.0)) as client:
        resp, chunks = post_chat(client, {"messages": [user("What is durable execution?")]})
        assert resp.status_code == 200
        run_id = resp.headers["x-workflow-run-id"]
        _one_turn(chunks)
        search = _tools(chunks)["search"]
        assert search["input"] == {"query": "What is durable execution?"}
        assert search["outcome"] == "tool-output-available"
        assert [hit["title"] for hit in search["output"]] == [
            "Durable execution explained",
            "Event sourcing and replay",
        ]
        assert _text(chunks).startswith("I found 2 sources on 'What is durable execution?'")

        resp, chunks = post_chat(client, {"messages": [user("wait 1 second")], "runId": run_id})
        assert resp.headers["x-wdk-chat-turn"] == "1"
        _one_turn(chunks)
        assert _tools(chunks)["wait"]["output"] == "waited 1s"
        assert _text(chunks) == "Back after the pause (waited 1s). Anything else to research?"

        chunks = _publish_turn(client, run_id, "publish a report", {"approved": True})
        _one_turn(chunks)
        assert _tools(chunks)["publish_report"]["outcome"] == "tool-output-available"
        assert _text(chunks) == "Done: published 'Durable execution'."

        chunks = _publish_turn(
            client, run_id, "publish it again", {"approved": False, "reason": "once is enough"}
        )
        _one_turn(chunks)
        assert _tools(chunks)["publish_report"]["outcome"] == "tool-output-denied"
        assert _text(chunks) == "Understood: the report was not published (once is enough)."

        # A reconnect replays the current (last) turn only.
        with client.stream("GET", f"/api/chat/{run_id}/stream") as resp:
            assert resp.headers["x-wdk-chat-turn"] == "3"
            assert list(ui_chunks(resp)) == chunks
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
    assert [json.loads(line)["title"] for line in published.read_text().splitlines()] == [
        "Durable execution"
    ]
