"""``POST /api/runs/{run_id}/retry|fork`` and the deploy fields of the run JSON on a real
`wdk serve`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_harness import start, wait_end

from wdk.server._openapi import openapi_document


@pytest.fixture(scope="module")
def completed(server: Any) -> str:
    """A completed run with five completed steps (`streams_demo`)."""
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(30.0)) as client:
        run_id = start(client, "streams_demo")
        assert wait_end(client, run_id)["status"] == "completed"
    return run_id


def test_run_json_has_the_deploy_fields(client: httpx.Client, completed: str) -> None:
    run = client.get(f"/api/runs/{completed}").json()
    assert "deployment_id" in run and run["forked_from"] is None
    assert "blocked" not in run  # only a blocked run has it
    listed = client.get("/api/runs", params={"status": "blocked"})
    assert listed.status_code == 200, listed.text
    assert all(r["status"] == "blocked" for r in listed.json()["runs"])


@pytest.mark.parametrize("route", ["retry", "fork"])
def test_unknown_run_is_404(client: httpx.Client, route: str) -> None:
    resp = client.post(f"/api/runs/wrun_does_not_exist/{route}")
    assert resp.status_code == 404, resp.text
    assert "wrun_does_not_exist" in resp.json()["error"]


def test_retry_of_a_run_that_is_not_blocked_is_409(client: httpx.Client, completed: str) -> None:
    resp = client.post(f"/api/runs/{completed}/retry")
    assert resp.status_code == 409, resp.text
    assert "blocked" in resp.json()["error"]
    assert resp.json()["run_status"] == "completed"
    assert client.get(f"/api/runs/{completed}").json()["status"] == "completed"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"from_step": "2"}},
        {"json": {"from_step": True}},
        {"json": {"from_step": 1.5}},
        {"json": {"from_step": -1}},
        {"json": {"from_step": 2**40}},
        {"json": {"from": 1}},
        {"json": [1]},
        {"content": b"{"},
    ],
)
def test_fork_bad_body_is_400(client: httpx.Client, completed: str, kwargs: dict[str, Any]) -> None:
    before = len(client.get("/api/runs", params={"limit": 1000}).json()["runs"])
    resp = client.post(f"/api/runs/{completed}/fork", **kwargs)
    assert resp.status_code == 400, resp.text
    assert isinstance(resp.json()["error"], str) and "Traceback" not in resp.text
    assert len(client.get("/api/runs", params={"limit": 1000}).json()["runs"]) == before


def test_fork_from_step_out_of_range_is_409(client: httpx.Client, completed: str) -> None:
    before = len(client.get("/api/runs", params={"limit": 1000}).json()["runs"])
    resp = client.post(f"/api/runs/{completed}/fork", json={"from_step": 99})
    assert resp.status_code == 409, resp.text
    assert len(client.get("/api/runs", params={"limit": 1000}).json()["runs"]) == before


def test_fork_starts_a_run_that_records_its_origin(client: httpx.Client, completed: str) -> None:
    resp = client.post(f"/api/runs/{completed}/fork", json={"from_step": 2})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["forked_from"] == completed and body["run_id"] != completed
    assert resp.headers["x-workflow-run-id"] == body["run_id"]
    run = wait_end(client, body["run_id"])
    assert run["forked_from"] == completed
    assert run["status"] == "completed" and run["output"] == "done"


def test_openapi_documents_the_routes_and_fields() -> None:
    doc = openapi_document()
    retry = doc["paths"]["/api/runs/{run_id}/retry"]["post"]["responses"]
    fork = doc["paths"]["/api/runs/{run_id}/fork"]["post"]
    assert {"200", "404", "409"} <= set(retry)
    assert {"201", "400", "404", "409"} <= set(fork["responses"])
    body = fork["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False and "from_step" in body["properties"]
    run = doc["components"]["schemas"]["Run"]["properties"]
    assert {"deployment_id", "forked_from", "blocked"} <= set(run)
    assert "blocked" in run["status"]["enum"]
    status = next(
        p for p in doc["paths"]["/api/runs"]["get"]["parameters"] if p["name"] == "status"
    )
    assert "blocked" in status["schema"]["enum"]
