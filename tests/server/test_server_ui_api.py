"""The JSON and live feeds the web UI reads, against a real `wdk serve` (ui_flows.py).

Steps with decoded values, attempts and the user's stack; the event log paged by cursor;
stream namespaces; a typed hook's JSON Schema; the live runs list and run feeds (SSE read
as the browser reads them); the HTML shell holding no run data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
from server_harness import first_chunk, wait_end

from wdk.server._models import RunPage


def _start(client: httpx.Client, name: str, *args: Any, run_id: str | None = None) -> str:
    body: dict[str, Any] = {"args": list(args)}
    if run_id is not None:
        body["run_id"] = run_id
    wf = quote(f"workflow//ui_flows.py//{name}", safe="")
    resp = client.post(f"/api/workflows/{wf}/runs", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["run_id"])


def _feed(resp: httpx.Response) -> Iterator[tuple[str, Any]]:
    event, data = "message", []
    for line in resp.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def test_steps_have_decoded_values_timings_and_every_attempt(client: httpx.Client) -> None:
    run_id = _start(client, "order", "widget", 3)
    assert wait_end(client, run_id)["status"] == "completed"
    steps = client.get(f"/api/runs/{run_id}/steps").json()["steps"]
    assert [s["name"] for s in steps] == ["price", "flaky", "say"]
    price, flaky, say = steps
    assert price["step_id"] == "step//ui_flows.py//price"
    assert price["correlation_id"].startswith("step_")
    assert price["status"] == "completed"
    assert price["input"] == ["widget", 3]
    assert price["output"] == {"item": "widget", "total": 21, "raw": {"$bytes": "AQI="}}
    assert price["error"] is None
    assert len(price["attempts"]) == 1
    attempt = price["attempts"][0]
    assert attempt["attempt"] == 1 and "error" not in attempt
    assert price["started_at"] <= attempt["ended_at"] == price["completed_at"]
    assert price["duration_ms"] == round((price["completed_at"] - price["started_at"]) * 1000, 3)
    # A retried step: two attempts, the first with its error and the user's stack.
    assert flaky["status"] == "completed"
    assert flaky["output"] == "inventory ok on attempt 2"
    assert [a["attempt"] for a in flaky["attempts"]] == [1, 2]
    first = flaky["attempts"][0]
    assert first["error"]["message"] == "flaky inventory failed on attempt 1"
    assert first["error"]["type"] == "wdk.errors.RetryableError"
    assert 'ui_flows.py", line' in first["error"]["stack"]
    assert "/wdk/runtime/" not in first["error"]["stack"]
    assert first["ended_at"] <= flaky["attempts"][1]["started_at"]
    assert "error" not in flaky["attempts"][1]
    # A value with no JSON form is a marker naming its type, never a plain string.
    stream_arg = say["input"][0]
    assert stream_arg["$type"] == "wdk.runtime._streams.WritableStream"
    assert say["input"][1] == "priced widget"


def test_a_failed_step_shows_its_error_and_the_users_traceback(client: httpx.Client) -> None:
    run_id = _start(client, "fails", "disk full")
    assert wait_end(client, run_id)["status"] == "failed"
    (step,) = client.get(f"/api/runs/{run_id}/steps").json()["steps"]
    assert step["status"] == "failed"
    assert step["output"] is None
    assert step["error"]["message"] == "broken because disk full"
    assert step["error"]["type"] == "builtins.ValueError"
    stack = step["error"]["stack"]
    assert 'raise ValueError(f"broken because {reason}")' in stack
    assert "_executor.py" not in stack and stack.rstrip().endswith(
        "ValueError: broken because disk full"
    )
    assert step["attempts"][0]["error"] == step["error"]


def test_event_log_is_decoded_and_paged(client: httpx.Client) -> None:
    run_id = _start(client, "order", "gadget", 2)
    wait_end(client, run_id)
    whole = client.get(f"/api/runs/{run_id}/events").json()
    assert whole["cursor"] is None
    events = whole["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run_created"
    assert events[0]["data"]["input"] == ["gadget", 2]
    assert events[-1]["type"] == "run_completed"
    assert events[-1]["data"]["note"] == "inventory ok on attempt 2"
    retry = next(e for e in events if e["type"] == "step_retrying")
    assert retry["data"]["error"] == {
        "$error": "wdk.errors.RetryableError",
        "message": "flaky inventory failed on attempt 1",
    }
    wait = next(e for e in events if e["type"] == "wait_created")
    assert wait["data"]["resume_at"] > wait["at"] - 1
    first = client.get(f"/api/runs/{run_id}/events", params={"limit": 2}).json()
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["cursor"] == "2"
    rest = client.get(f"/api/runs/{run_id}/events", params={"after": first["cursor"]}).json()
    assert first["events"] + rest["events"] == events
    assert client.get(f"/api/runs/{run_id}/events", params={"after": "x"}).status_code == 400
    assert client.get("/api/runs/no-such-run/events").status_code == 404
    assert client.get("/api/runs/no-such-run/steps").status_code == 404


def test_streams_of_a_run(client: httpx.Client) -> None:
    run_id = _start(client, "order", "bolt", 1)
    wait_end(client, run_id)
    streams = client.get(f"/api/runs/{run_id}/streams").json()["streams"]
    assert streams == [{"namespace": "log", "tail_index": 0, "closed": True}]


def test_typed_hook_schema_for_the_resume_form(client: httpx.Client) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    run_id = _start(client, "approve", token)
    assert first_chunk(client, run_id, "default") == "waiting for a decision"
    schema = client.get(f"/api/hooks/{token}/schema").json()["schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["approved"]["type"] == "boolean"
    assert schema["properties"]["by"]["type"] == "string"
    assert sorted(schema["required"]) == ["approved", "by"]
    assert client.post(f"/api/hooks/{token}", json={"approved": True, "by": "ada"}).is_success
    assert wait_end(client, run_id)["output"] == {"approved": True, "by": "ada"}
    plain = f"tok-{uuid.uuid4().hex}"
    other = _start(client, "wait_forever", plain)
    first_chunk(client, other, "default")
    assert client.get(f"/api/hooks/{plain}/schema").json() == {"schema": None}
    assert client.get("/api/hooks/no-such-token/schema").status_code == 404
    client.post(f"/api/runs/{other}/cancel")


def test_runs_feed_sends_the_first_page_again_when_a_run_changes(client: httpx.Client) -> None:
    prefix = f"feed-{uuid.uuid4().hex[:8]}-"
    with client.stream("GET", "/api/runs/feed", params={"prefix": prefix}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        feed = _feed(resp)
        assert next(feed) == ("runs", {"runs": [], "cursor": None})
        run_id = _start(client, "order", "nut", 4, run_id=prefix + "a")
        seen = []
        for event, page in feed:
            assert event == "runs"
            RunPage.model_validate(page)  # the document's schema of a feed event
            assert [r["run_id"] for r in page["runs"]] == [run_id]
            seen.append(page["runs"][0]["status"])
            if seen[-1] == "completed":
                break
    assert seen[-1] == "completed"
    assert len(seen) == len(set(seen)), "a page is sent again only when it changed"


def test_runs_feed_and_list_filter_by_prefix_and_status(client: httpx.Client) -> None:
    prefix = f"flt-{uuid.uuid4().hex[:8]}-"
    done = _start(client, "order", "x", 1, run_id=prefix + "done")
    wait_end(client, done)
    listed = client.get("/api/runs", params={"prefix": prefix}).json()["runs"]
    assert [r["run_id"] for r in listed] == [done]
    assert client.get("/api/runs", params={"prefix": prefix + "z"}).json()["runs"] == []
    params = {"prefix": prefix, "status": "failed"}
    with client.stream("GET", "/api/runs/feed", params=params) as resp:
        assert next(_feed(resp)) == ("runs", {"runs": [], "cursor": None})
    assert client.get("/api/runs/feed", params={"status": "nope"}).status_code == 400


def test_run_changes_feed_follows_the_run_to_its_end(client: httpx.Client) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    run_id = _start(client, "wait_forever", token)
    first_chunk(client, run_id, "default")
    with client.stream("GET", f"/api/runs/{run_id}/changes") as resp:
        feed = _feed(resp)
        event, view = next(feed)
        assert event == "run" and view["run"]["status"] == "running"
        before = view["seq"]
        assert client.post(f"/api/hooks/{token}", json="go").is_success
        for event, view in feed:
            assert event == "run" and view["seq"] > before
            if view["run"]["status"] == "completed":
                break
    assert view["run"]["output"] == "resumed"
    assert client.get("/api/runs/no-such-run/changes").status_code == 404


def test_pages_are_a_shell_without_run_data(client: httpx.Client) -> None:
    run_id = _start(client, "order", "secret-item", 1)
    wait_end(client, run_id)
    for path in ("/", f"/runs/{run_id}"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/html")
        assert run_id not in resp.text and "secret-item" not in resp.text
        assert 'src="/ui/app.js"' in resp.text
    js = client.get("/ui/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/app.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/../_app.py").status_code == 404
    assert client.get("/ui/nothing.js").status_code == 404


def test_with_a_token_the_ui_routes_need_it_and_the_shell_holds_nothing(
    tmp_path_factory: Any,
) -> None:
    from server_harness import serve, stop

    srv = serve(tmp_path_factory.mktemp("ui-auth"), env={"WDK_API_TOKEN": "s3cret-ui"})
    try:
        auth = {"authorization": "Bearer s3cret-ui"}
        with httpx.Client(base_url=srv.url, timeout=30, headers=auth) as ok:
            run_id = _start(ok, "order", "zz-private-item", 1)
            wait_end(ok, run_id)
        with httpx.Client(base_url=srv.url, timeout=30) as anon:
            for path in (
                f"/api/runs/{run_id}/steps",
                f"/api/runs/{run_id}/events",
                f"/api/runs/{run_id}/changes",
                f"/api/runs/{run_id}/streams",
                "/api/runs/feed",
                "/api/hooks/any/schema",
            ):
                assert anon.get(path).status_code == 401, path
            for path in ("/", f"/runs/{run_id}", "/ui/app.js", "/ui/app.css"):
                resp = anon.get(path)
                assert resp.status_code == 200, path
                assert run_id not in resp.text and "zz-private" not in resp.text, path
            # The token is never taken from a URL (where logs keep it).
            assert anon.get("/api/runs/feed", params={"token": "s3cret-ui"}).status_code == 401
    finally:
        stop(srv)


def test_shell_links_under_the_mount_prefix() -> None:
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Mount

    from wdk.server import create_app

    outer = Starlette(routes=[Mount("/ops/wdk", app=create_app("memory://"))])

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui.test") as c:
            return await c.get(path)

    resp = asyncio.run(get("/ops/wdk/"))
    assert resp.status_code == 200
    assert 'data-base="/ops/wdk"' in resp.text and 'src="/ops/wdk/ui/app.js"' in resp.text
    assert asyncio.run(get("/ops/wdk/ui/app.js")).status_code == 200


def test_ui_reads_and_feeds_on_postgresql(tmp_path_factory: Any) -> None:
    """The same reads over a PostgreSQL world: a run seen live, its steps and log decoded."""
    import asyncio

    from pg import PG_URL, fresh_schema, require_postgres
    from serve import WDK, launch, serve_env, stop_process
    from server_harness import FIXTURES

    from wdk.worlds.postgres import PostgresWorld

    require_postgres()
    schema = fresh_schema()
    tmp = tmp_path_factory.mktemp("ui-pg")
    cmd = [WDK, "serve", "--port", "0", "--root", str(FIXTURES)]
    url, proc, _ = launch([*cmd, "--world", f"{PG_URL}?schema={schema}"], tmp, serve_env(tmp))
    try:
        with httpx.Client(base_url=url, timeout=30) as pg_client:
            prefix = f"pg-{uuid.uuid4().hex[:8]}-"
            with pg_client.stream("GET", "/api/runs/feed", params={"prefix": prefix}) as resp:
                feed = _feed(resp)
                assert next(feed) == ("runs", {"runs": [], "cursor": None})
                run_id = _start(pg_client, "order", "pg-item", 2, run_id=prefix + "a")
                for _, page in feed:
                    assert [r["run_id"] for r in page["runs"]] == [run_id]
                    if page["runs"][0]["status"] == "completed":
                        break
            steps = pg_client.get(f"/api/runs/{run_id}/steps").json()["steps"]
            assert [s["name"] for s in steps] == ["price", "flaky", "say"]
            assert steps[0]["output"] == {"item": "pg-item", "total": 14, "raw": {"$bytes": "AQI="}}
            assert len(steps[1]["attempts"]) == 2
            events = pg_client.get(f"/api/runs/{run_id}/events").json()["events"]
            assert events[0]["data"]["input"] == ["pg-item", 2]
            assert events[-1]["type"] == "run_completed"
    finally:
        stop_process(proc)
        asyncio.run(PostgresWorld(PG_URL, schema=schema).drop_schema())
