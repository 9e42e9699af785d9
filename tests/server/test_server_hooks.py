"""Hooks end to end through a real `wdk serve`: resume, conflicts, reuse, schemas."""

from __future__ import annotations

import httpx
from server_harness import first_chunk, start, wait_end


def _ready(client: httpx.Client, run_id: str) -> None:
    assert first_chunk(client, run_id, "control") is not None


def test_hook_resumed_three_times_with_metadata(client: httpx.Client) -> None:
    run_id = start(client, "collect_three", "tok-three")
    _ready(client, run_id)
    hook = client.get("/api/hooks/tok-three").json()
    assert hook["run_id"] == run_id
    assert hook["kind"] == "hook"
    assert hook["metadata"] == {"purpose": "collect", "n": 3}
    listed = client.get(f"/api/runs/{run_id}/hooks").json()["hooks"]
    assert [h["token"] for h in listed] == ["tok-three"]
    for payload in ({"n": 1}, [2, "two"], "three"):
        resp = client.post("/api/hooks/tok-three", json=payload)
        assert resp.status_code == 200, resp.text
        assert resp.json()["run_id"] == run_id
    run = wait_end(client, run_id)
    assert run["status"] == "completed"
    assert run["output"] == [{"n": 1}, [2, "two"], "three"]
    # Released with the run: the token is unknown now.
    assert client.post("/api/hooks/tok-three", json=1).status_code == 404
    assert client.get("/api/hooks/tok-three").status_code == 404


def test_token_conflict_fails_second_run_only_and_token_is_reusable(
    client: httpx.Client,
) -> None:
    first = start(client, "hold_token", "tok-shared")
    _ready(client, first)
    second = start(client, "hold_token", "tok-shared")
    run = wait_end(client, second)
    assert run["status"] == "failed"
    assert run["error"]["type"].endswith("HookConflictError")
    assert "tok-shared" in run["error"]["message"]
    assert client.get(f"/api/runs/{first}").json()["status"] == "running"
    resp = client.post("/api/hooks/tok-shared", json={"to": "first"})
    assert resp.json()["run_id"] == first
    assert wait_end(client, first)["output"] == {"to": "first"}
    third = start(client, "hold_token", "tok-shared")
    _ready(client, third)
    assert client.post("/api/hooks/tok-shared", json="again").json()["run_id"] == third
    assert wait_end(client, third)["output"] == "again"


def test_schema_rejection_leaves_run_waiting_and_nothing_stored(client: httpx.Client) -> None:
    run_id = start(client, "typed", "tok-typed")
    _ready(client, run_id)
    assert client.get("/api/hooks/tok-typed").json()["metadata"] == {"typed": True}
    bad = client.post("/api/hooks/tok-typed", json={"approved": "maybe"})
    assert bad.status_code == 400, bad.text
    body = bad.json()
    fields = sorted(tuple(e["loc"]) for e in body["errors"])
    assert fields == [("approved",), ("by",)]
    assert "approved" in body["error"]
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
    good = client.post("/api/hooks/tok-typed", json={"approved": True, "by": "ada"})
    assert good.status_code == 200, good.text
    # The workflow returns the FIRST payload it received: the rejected one was never stored.
    assert wait_end(client, run_id)["output"] == {"approved": True, "by": "ada"}


def test_unknown_hook_token_and_bad_json(client: httpx.Client) -> None:
    assert client.post("/api/hooks/no-such-token", json={}).status_code == 404
    assert client.get("/api/hooks/no-such-token").status_code == 404
    bad = client.post(
        "/api/hooks/whatever", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("invalid JSON")
