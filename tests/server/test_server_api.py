"""The run API, errors, limits and auth of a real `wdk serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from openapi_check import checked_client
from server_harness import Server, first_chunk, serve, start, stop, wait_end, wf


def test_healthz_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/runs/{run_id}/stream" in doc["paths"]


def test_start_list_show_cancel(client: httpx.Client) -> None:
    run_id = start(client, "hold_token", "tok-api", run_id="my-run-1")
    assert run_id == "my-run-1"
    # Idempotent start with the same run_id; raw (unencoded) workflow id works too.
    again = client.post(f"/api/workflows/{wf('hold_token')}/runs", json={"run_id": "my-run-1"})
    assert (again.status_code, again.json()["run_id"]) == (200, "my-run-1")
    shown = client.get("/api/runs/my-run-1").json()
    assert shown["workflow_id"] == wf("hold_token")
    listed = client.get("/api/runs", params={"workflow": wf("hold_token"), "limit": 50}).json()
    assert "my-run-1" in [r["run_id"] for r in listed["runs"]]
    cancelled = client.post("/api/runs/my-run-1/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert wait_end(client, "my-run-1")["status"] == "cancelled"
    assert client.post("/api/hooks/tok-api", json=1).status_code == 404


def test_paging(client: httpx.Client) -> None:
    for _ in range(3):
        start(client, "streams_demo")
    page = client.get("/api/runs", params={"limit": 2}).json()
    assert len(page["runs"]) == 2 and page["cursor"]
    more = client.get("/api/runs", params={"limit": 2, "cursor": page["cursor"]}).json()
    assert not {r["run_id"] for r in more["runs"]} & {r["run_id"] for r in page["runs"]}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", f"/api/workflows/{quote(wf('nope'), safe='')}/runs", {"json": {}}, 404),
        ("POST", f"/api/workflows/{quote(wf('feed'), safe='')}/runs", {"json": {"args": 1}}, 400),
        ("POST", f"/api/workflows/{quote(wf('feed'), safe='')}/runs", {"json": [1]}, 400),
        ("POST", f"/api/workflows/{quote(wf('feed'), safe='')}/runs", {"content": b"{"}, 400),
        ("POST", "/api/workflows/garbage/runs", {"json": {}}, 404),
        ("GET", "/api/runs", {"params": {"status": "weird"}}, 400),
        ("GET", "/api/runs", {"params": {"limit": "0"}}, 400),
        ("GET", "/api/runs", {"params": {"cursor": "not-a-cursor"}}, 400),
        ("GET", "/api/runs/wrun_unknown", {}, 404),
        ("POST", "/api/runs/wrun_unknown/cancel", {}, 404),
        ("GET", "/api/nothing-here", {}, 404),
        ("DELETE", "/api/runs", {}, 405),
    ],
)
def test_errors_are_json_without_tracebacks(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    resp = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["error"], str)
    assert "Traceback" not in resp.text


def test_body_limit(client: httpx.Client) -> None:
    big = b"x" * ((1 << 20) + 1)
    assert client.post("/api/hooks/any", content=big).status_code == 413
    assert client.post("/.well-known/workflow/v1/webhook/any", content=big).status_code == 413


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = serve(
        tmp_path_factory.mktemp("secured"),
        env={"WDK_API_TOKEN": "s3cret"},
        args=("--webhook-timeout", "0.5"),
    )
    try:
        yield srv
    finally:
        stop(srv)


def test_bearer_auth(secured: Server, tmp_path: Path) -> None:
    with checked_client(secured.url) as c:
        assert c.get("/api/runs").status_code == 401
        assert c.get("/api/runs", headers={"authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/api/runs", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # Webhooks, health and the API document need no token.
        assert c.post("/.well-known/workflow/v1/webhook/x").status_code == 404
        assert c.get("/healthz").status_code == 200
        assert c.get("/openapi.json").status_code == 200


def test_manual_webhook_timeout_is_504(secured: Server) -> None:
    auth = {"authorization": "Bearer s3cret"}
    with checked_client(secured.url, headers=auth, timeout=30) as c:
        run_id = start(c, "manual_unanswered", True)
        url = first_chunk(c, run_id, "control")
        resp = httpx.post(url, content=b"late?", timeout=30)
        assert resp.status_code == 504
        assert "did not respond" in resp.text and "respond_with" in resp.text
        assert c.post(f"/api/runs/{run_id}/cancel").json()["status"] == "cancelled"
