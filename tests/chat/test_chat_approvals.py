"""Issue 17, item 6: tool approvals of a DurableAgent served by `wdk serve --chat` are typed
hooks: a decision that is not ``{"approved": bool, "reason"?: str}`` is a 400 and is never
stored; a valid one lets the same POST stream go on."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from chat_harness import serve_chat, stop_chat, ui_chunks, user

AI_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ai"


def test_a_malformed_approval_is_refused_and_the_stream_goes_on(tmp_path: Path) -> None:
    server = serve_chat(tmp_path, "agents:approval_agent", root=AI_FIXTURES)
    try:
        with httpx.Client(base_url=server.url, timeout=httpx.Timeout(30.0)) as client:
            body = json.dumps({"messages": [user("delete it")]})
            with client.stream("POST", "/api/chat", content=body) as resp:
                assert resp.status_code == 200
                run_id = resp.headers["x-workflow-run-id"]
                chunks = ui_chunks(resp)
                seen = []
                for chunk in chunks:
                    seen.append(chunk)
                    if chunk["type"] == "tool-approval-request":
                        break
                token = seen[-1]["approvalId"]
                bad = client.post(f"/api/hooks/{token}", json={"approved": "maybe"})
                assert bad.status_code == 400, bad.text
                assert [e["loc"] for e in bad.json()["errors"]] == [["approved"]]
                events = client.get(f"/api/runs/{run_id}").json()
                assert events["status"] == "running"
                good = client.post(f"/api/hooks/{token}", json={"approved": True})
                assert good.status_code == 200, good.text
                seen.extend(chunks)
    finally:
        stop_chat(server)
    types = [c["type"] for c in seen]
    assert types.count("finish") == 1 and types[-1] == "finish"
    assert "tool-output-available" in types
    output = next(c for c in seen if c["type"] == "tool-output-available")
    assert output["output"] == "deleted /tmp/x"
