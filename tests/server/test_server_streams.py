"""Streams over SSE through a real `wdk serve`."""

from __future__ import annotations

import base64

import httpx
from server_harness import first_chunk, read_chunks, sse, start, wait_end

RAW = {"$bytes": base64.b64encode(b"\x00\xffraw").decode()}


def test_default_and_named_streams_live_and_after_completion(client: httpx.Client) -> None:
    run_id = start(client, "streams_demo")
    # Readers connected while the run writes (sleeps between chunks) get everything.
    live = read_chunks(client, run_id)
    assert live == [(0, "first"), (1, RAW), (2, {"third": [1, 2, 3]})]
    assert read_chunks(client, run_id, "logs") == [(0, {"line": 1}), (1, {"line": 2})]
    assert wait_end(client, run_id)["output"] == "done"
    assert read_chunks(client, run_id, start=1) == [(1, RAW), (2, {"third": [1, 2, 3]})]
    assert read_chunks(client, run_id, start=-1) == [(2, {"third": [1, 2, 3]})]
    assert read_chunks(client, run_id, "logs", start=-1) == [(1, {"line": 2})]
    with sse(client, run_id) as (resp, _):
        assert resp.headers["x-workflow-stream-tail-index"] == "2"
        assert resp.headers["content-type"].startswith("text/event-stream")


def test_tail_index_and_reconnect_gets_every_chunk_once(client: httpx.Client) -> None:
    run_id = start(client, "feed", "tok-feed")
    first_chunk(client, run_id, "control")
    seen: list[tuple[int, object]] = []

    client.post("/api/hooks/tok-feed", json="c0")
    with sse(client, run_id) as (resp, events):
        assert resp.headers["x-workflow-run-id"] == run_id
        ev = next(events)
        seen.append((ev.id, ev.data))  # then the reader drops mid-stream
    assert seen == [(0, "c0")]

    client.post("/api/hooks/tok-feed", json="c1")
    assert first_chunk(client, run_id, "default", 1) == "c1"
    with sse(client, run_id) as (resp, _):
        assert resp.headers["x-workflow-stream-tail-index"] == "1"
    with sse(client, run_id, "no-such-namespace") as (resp, _):
        assert resp.headers["x-workflow-stream-tail-index"] == "-1"

    client.post("/api/hooks/tok-feed", json="c2")
    # Reconnect with the next index (as Last-Event-ID, the way EventSource does it).
    with sse(client, run_id, headers={"last-event-id": "0"}) as (_, events):
        for ev in events:
            assert ev.event == "message"
            seen.append((ev.id, ev.data))
            if ev.id == 2:
                break
    client.post("/api/hooks/tok-feed", json="stop")
    assert wait_end(client, run_id)["output"] == 3
    seen += read_chunks(client, run_id, start=3)
    assert seen == [(0, "c0"), (1, "c1"), (2, "c2")]


def test_stream_of_unknown_run_and_bad_index(client: httpx.Client) -> None:
    assert client.get("/api/runs/wrun_nope/stream").status_code == 404
    run_id = start(client, "streams_demo")
    resp = client.get(f"/api/runs/{run_id}/stream", params={"startIndex": "x"})
    assert resp.status_code == 400
    wait_end(client, run_id)
