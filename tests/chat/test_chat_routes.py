"""The WorkflowChatTransport protocol of `wdk serve --chat` (wdk.ai.chat_routes), over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from chat_harness import (
    ChatServer,
    expected_turn,
    get_stream,
    post_chat,
    serve_chat,
    stop_chat,
    ui_chunks,
    user,
)

CHAT = "chat_flows:chat_fixture"
OTHER = "workflow//chat_flows.py//not_a_chat"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    srv = serve_chat(tmp_path_factory.mktemp("chat"), CHAT)
    try:
        yield srv
    finally:
        stop_chat(srv)


@pytest.fixture
def client(server: ChatServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(30.0)) as c:
        yield c


def test_post_answers_the_turn_as_a_ui_message_stream(client: httpx.Client) -> None:
    resp, chunks = post_chat(client, {"messages": [user("hello there")]})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert resp.headers["x-workflow-run-id"].startswith("wrun_")
    assert resp.headers["x-wdk-chat-turn"] == "0"
    assert chunks == expected_turn("hello there", 0)
    assert [c["type"] for c in chunks].count("finish") == 1


def test_post_body_is_json_whatever_the_content_type(client: httpx.Client) -> None:
    body = json.dumps({"messages": [user("typed")]})
    for content_type in ("application/json", "application/octet-stream", None):
        headers = {"content-type": content_type} if content_type else {}
        with client.stream("POST", "/api/chat", content=body, headers=headers) as resp:
            assert resp.status_code == 200
            assert list(ui_chunks(resp)) == expected_turn("typed", 0)


def test_resume_from_a_positive_start_index_live_and_after(client: httpx.Client) -> None:
    expected = expected_turn("one two three four", 0)
    body = json.dumps({"messages": [user("one two three four")]})
    # Read three chunks of the live answer, then drop the connection (the run goes on).
    with client.stream("POST", "/api/chat", content=body) as resp:
        run_id = resp.headers["x-workflow-run-id"]
        got = list(ui_chunks(resp, limit=3))
    resp, rest = get_stream(client, run_id, 3)
    assert resp.status_code == 200
    assert resp.headers["x-workflow-run-id"] == run_id
    assert resp.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert got + rest == expected
    # After the turn finished: the same, and the tail header is the turn's last index.
    resp, rest = get_stream(client, run_id, 5)
    assert rest == expected[5:]
    assert resp.headers["x-workflow-stream-tail-index"] == str(len(expected) - 1)
    # Past the end: the reader had everything, it gets its finish again (never a hang).
    assert get_stream(client, run_id, len(expected) + 3)[1] == [{"type": "finish"}]


def test_resume_from_a_negative_start_index(client: httpx.Client) -> None:
    resp, chunks = post_chat(client, {"messages": [user("tail please")]})
    run_id = resp.headers["x-workflow-run-id"]
    resp, rest = get_stream(client, run_id, -2)
    assert resp.headers["x-workflow-stream-tail-index"] == str(len(chunks) - 1)
    assert rest == chunks[-2:] == [{"type": "text-end", "id": "t0"}, {"type": "finish"}]
    assert get_stream(client, run_id, -1000)[1] == chunks
    assert get_stream(client, run_id)[1] == chunks


def test_a_failed_run_still_ends_with_one_finish(client: httpx.Client) -> None:
    resp, chunks = post_chat(client, {"messages": [user("fail")]})
    assert resp.status_code == 200
    run_id = resp.headers["x-workflow-run-id"]
    partial = [
        {"type": "start", "messageId": "m0"},
        {"type": "text-start", "id": "t0"},
        {"type": "text-delta", "id": "t0", "delta": "partial"},
    ]
    error = {"type": "error", "errorText": "run failed: the model exploded"}
    assert chunks == [*partial, error, {"type": "finish"}]
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "failed"
    # A reconnect gets the same ending.
    resp, rest = get_stream(client, run_id, 2)
    assert resp.headers["x-workflow-stream-tail-index"] == "2"
    assert rest == [partial[2], error, {"type": "finish"}]
    # A follow-up to a failed conversation starts a fresh one (the stale runId pattern).
    resp, chunks = post_chat(client, {"messages": [user("fail"), user("again")], "runId": run_id})
    assert resp.status_code == 200
    assert resp.headers["x-workflow-run-id"] != run_id
    assert resp.headers["x-wdk-chat-stale-run-id"] == run_id
    assert chunks == expected_turn("again", 0)


def test_a_run_that_completes_without_finish_gets_one(client: httpx.Client) -> None:
    resp, chunks = post_chat(client, {"messages": [user("quiet")]})
    assert [c["type"] for c in chunks] == ["start", "text-start", "text-delta", "finish"]
    run_id = resp.headers["x-workflow-run-id"]
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "completed"


def test_multi_turn_each_post_answers_only_its_turn(client: httpx.Client) -> None:
    first = user("hello", "u1")
    resp, chunks = post_chat(client, {"messages": [first]})
    run_id = resp.headers["x-workflow-run-id"]
    assert chunks == expected_turn("hello", 0)

    history = [first, {"id": "m0", "role": "assistant", "parts": []}, user("and again", "u2")]
    resp, chunks = post_chat(client, {"messages": history, "runId": run_id})
    assert resp.status_code == 200
    assert resp.headers["x-workflow-run-id"] == run_id
    assert resp.headers["x-wdk-chat-turn"] == "1"
    assert chunks == expected_turn("and again", 1)

    # The resume route follows the current turn; ?turn= picks an earlier one.
    resp, again = get_stream(client, run_id, 0)
    assert resp.headers["x-wdk-chat-turn"] == "1"
    assert resp.headers["x-workflow-stream-tail-index"] == str(len(chunks) - 1)
    assert again == chunks
    assert get_stream(client, run_id, -1, turn=0)[1] == [{"type": "finish"}]
    assert get_stream(client, run_id, 0, turn=0)[1] == expected_turn("hello", 0)

    resp, chunks = post_chat(client, {"messages": [user("bye", "u3")], "run_id": run_id})
    assert chunks == expected_turn("bye", 2)
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "completed"
    # The conversation is over: a next message starts a fresh run, and says so.
    resp, chunks = post_chat(client, {"messages": [user("more")], "runId": run_id})
    assert resp.status_code == 200
    fresh = resp.headers["x-workflow-run-id"]
    assert fresh.startswith("wrun_") and fresh != run_id
    assert resp.headers["x-wdk-chat-stale-run-id"] == run_id
    assert resp.headers["x-wdk-chat-turn"] == "0"
    assert chunks == expected_turn("more", 0)


def test_a_follow_up_while_a_turn_is_answered_is_refused(client: httpx.Client) -> None:
    resp, _ = post_chat(client, {"messages": [user("first")]})
    run_id = resp.headers["x-workflow-run-id"]
    body = json.dumps({"messages": [user("second")], "runId": run_id})
    with client.stream("POST", "/api/chat", content=body) as live:
        assert live.status_code == 200  # delivered: turn 1 is being answered now
        resp, _ = post_chat(client, {"messages": [user("third")], "runId": run_id})
        assert resp.status_code == 409
        assert "still answering" in resp.json()["error"]
        assert list(ui_chunks(live)) == expected_turn("second", 1)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "invalid JSON"),
        ("[1]", 400, "JSON object"),
        ("{}", 400, "'messages'"),
        ('{"messages": []}', 400, "'messages'"),
        ('{"messages": ["hi"]}', 400, "UIMessage"),
        ('{"messages": [{}], "runId": "bad id!"}', 400, "'runId'"),
    ],
)
def test_bad_posts(client: httpx.Client, body: str, status: int, message: str) -> None:
    resp = client.post("/api/chat", content=body)
    assert resp.status_code == status
    assert message in resp.json()["error"]


def test_a_stale_run_id_starts_a_fresh_conversation(client: httpx.Client) -> None:
    """Issue 17, item 4 (seed 003, "Handle stale runId gracefully"): a runId naming no run
    starts the workflow anew with the messages; the run-id header names the new run."""
    history = [user("hello", "u1"), {"id": "m0", "role": "assistant", "parts": []}]
    history.append(user("are you there", "u2"))
    resp, chunks = post_chat(client, {"messages": history, "runId": "wrun_gone"})
    assert resp.status_code == 200, resp.text
    fresh = resp.headers["x-workflow-run-id"]
    assert fresh.startswith("wrun_") and fresh != "wrun_gone"
    assert resp.headers["x-wdk-chat-stale-run-id"] == "wrun_gone"
    assert resp.headers["x-wdk-chat-turn"] == "0"
    assert chunks == expected_turn("are you there", 0)
    # The new run is a real conversation: the next message continues it.
    resp, chunks = post_chat(client, {"messages": [user("bye", "u3")], "runId": fresh})
    assert resp.headers["x-workflow-run-id"] == fresh
    assert "x-wdk-chat-stale-run-id" not in resp.headers
    assert chunks == expected_turn("bye", 1)


def test_a_run_of_another_workflow_is_not_a_chat(client: httpx.Client) -> None:
    started = client.post(f"/api/workflows/{quote(OTHER, safe='')}/runs", json={"args": []})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    resp, _ = post_chat(client, {"messages": [user("hi")], "runId": run_id})
    assert resp.status_code == 404
    assert "not_a_chat" in resp.json()["error"]
    assert client.get(f"/api/runs/{run_id}").json()["workflow_id"] == OTHER


def test_bad_resumes(client: httpx.Client) -> None:
    assert client.get("/api/chat/wrun_nope/stream").status_code == 404
    resp, _ = post_chat(client, {"messages": [user("x")]})
    run_id = resp.headers["x-workflow-run-id"]
    assert client.get(f"/api/chat/{run_id}/stream", params={"startIndex": "x"}).status_code == 400
    assert client.get(f"/api/chat/{run_id}/stream", params={"turn": "-1"}).status_code == 400


def test_abort_after_chunks_cuts_the_post_and_get_resumes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    srv = serve_chat(
        tmp_path_factory.mktemp("chat-abort"), CHAT, env={"WDK_CHAT_ABORT_AFTER_CHUNKS": "3"}
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=httpx.Timeout(30.0)) as client:
            got = []
            body = json.dumps({"messages": [user("cut me off")]})
            with pytest.raises(httpx.RemoteProtocolError):
                with client.stream("POST", "/api/chat", content=body) as resp:
                    run_id = resp.headers["x-workflow-run-id"]
                    for chunk in ui_chunks(resp):
                        got.append(chunk)
            assert len(got) == 3
            resp, rest = get_stream(client, run_id, len(got))
            assert got + rest == expected_turn("cut me off", 0)
        assert any("TEST MODE" in line for line in srv.log)
    finally:
        stop_chat(srv)


def test_long_json_int_in_a_chat_post_is_a_400(client: httpx.Client) -> None:
    body = '{"messages": [{"id": "u1", "role": "user", "n": ' + "1" * 4301 + "}]}"
    resp = client.post("/api/chat", content=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"].startswith(
        'request body has an integer with more than 4300 digits at body["messages"][0]["n"]'
    )


def test_405_on_chat_routes_and_the_page_carries_allow(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    work = tmp_path_factory.mktemp("chat-405")
    page = work / "page"
    page.mkdir()
    (page / "index.html").write_text("<p>chat</p>")
    srv = serve_chat(work, CHAT, args=("--chat-page", str(page)))
    try:
        with httpx.Client(base_url=srv.url, timeout=httpx.Timeout(30.0)) as client:
            for method, path, allow in [
                ("PUT", "/api/chat", "POST"),
                ("POST", "/api/chat/wrun_x/stream", "GET, HEAD"),
                ("POST", "/chat/", "GET, HEAD"),
            ]:
                resp = client.request(method, path)
                assert resp.status_code == 405, (path, resp.text)
                assert resp.headers["allow"] == allow, path
            assert client.get("/chat/").text == "<p>chat</p>"
    finally:
        stop_chat(srv)
