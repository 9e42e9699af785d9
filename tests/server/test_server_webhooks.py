"""Webhooks through a real `wdk serve`: default 202, static response, manual response."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from server_harness import first_chunk, start, wait_end


def test_three_webhooks(client: httpx.Client, server: object) -> None:
    run_id = start(client, "webhooks_demo")
    urls = first_chunk(client, run_id, "control")
    assert set(urls) == {"default", "static", "manual"}
    for url in urls.values():
        assert url.startswith(
            f"{client.base_url}".rstrip("/") + "/.well-known/workflow/v1/webhook/"
        )
    paths = {k: urlsplit(v).path for k, v in urls.items()}

    r1 = client.post(paths["default"], json={"event": "paid"})
    assert (r1.status_code, r1.content) == (202, b"")
    r2 = client.put(paths["static"], content=b"hello")
    assert (r2.status_code, r2.text) == (402, "static body")
    r3 = client.patch(paths["manual"], content=b"x", headers={"x-test": "manual-header"})
    assert (r3.status_code, r3.text) == (200, "body from step")
    assert r3.headers["x-from"] == "step"

    run = wait_end(client, run_id)
    assert run["status"] == "completed", run
    assert run["output"] == ["POST", {"event": "paid"}, "PUT", "hello", "PATCH", "manual-header"]
    # Released with the run.
    assert client.post(paths["default"]).status_code == 404


def test_unknown_webhook_token_is_404_with_empty_body(client: httpx.Client) -> None:
    for method in ("GET", "POST", "DELETE"):
        resp = client.request(method, "/.well-known/workflow/v1/webhook/nope")
        assert (resp.status_code, resp.content) == (404, b"")


def test_plain_hook_token_is_not_a_webhook(client: httpx.Client) -> None:
    run_id = start(client, "hold_token", "tok-not-webhook")
    first_chunk(client, run_id, "control")
    resp = client.post("/.well-known/workflow/v1/webhook/tok-not-webhook", json={})
    assert (resp.status_code, resp.content) == (404, b"")
    client.post("/api/hooks/tok-not-webhook", json="done")
    assert wait_end(client, run_id)["output"] == "done"


def test_webhook_token_is_refused_on_the_hooks_api(client: httpx.Client) -> None:
    run_id = start(client, "webhooks_demo")
    urls = first_chunk(client, run_id, "control")
    token = urls["default"].rsplit("/", 1)[1]
    assert client.post(f"/api/hooks/{token}", json={}).status_code == 409
    assert client.post(f"/api/runs/{run_id}/cancel").json()["status"] == "cancelled"
    assert client.post(urlsplit(urls["default"]).path).status_code == 404


def test_manual_webhook_whose_run_ends_without_answering_gets_502(client: httpx.Client) -> None:
    run_id = start(client, "manual_unanswered", False)
    url = first_chunk(client, run_id, "control")
    resp = client.post(urlsplit(url).path, content=b"?")
    assert resp.status_code == 502
    assert "ended without responding" in resp.text
    assert wait_end(client, run_id)["output"] == "POST"


def test_a_retried_step_answering_again_keeps_the_first_answer(client: httpx.Client) -> None:
    """Issue 17, item 7: respond_with is retry-safe."""
    run_id = start(client, "manual_retried", False)
    path = urlsplit(first_chunk(client, run_id, "control")).path
    answer = client.post(path, content=b"x")
    assert (answer.status_code, answer.text) == (200, "answered on attempt 1")
    run = wait_end(client, run_id)
    assert run["status"] == "completed", run
    assert run["output"] == "done on attempt 2"


def test_a_failing_retried_step_reports_its_own_error(client: httpx.Client) -> None:
    """Issue 17, item 7: the step's error, not "already answered", is what the run reports."""
    run_id = start(client, "manual_retried", True)
    path = urlsplit(first_chunk(client, run_id, "control")).path
    answer = client.post(path, content=b"x")
    assert (answer.status_code, answer.text) == (200, "answered on attempt 1")
    run = wait_end(client, run_id)
    assert run["status"] == "failed", run
    assert run["error"]["message"] == "the step's own error (attempt 2)", run["error"]
    assert "already answered" not in run["error"]["message"]
