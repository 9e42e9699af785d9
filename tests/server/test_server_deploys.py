"""``POST /api/runs/{run_id}/retry|fork`` and the deploy fields of the run JSON on a real
`wdk serve`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_check import checked_client
from serve import WDK, serve_env
from server_harness import FIXTURES, serve, start, stop, wait_end, wf
from starlette.testclient import TestClient

from wdk import serde
from wdk.api import start as api_start
from wdk.runtime import Project
from wdk.server import ServerConfig, create_app
from wdk.server._http import run_json
from wdk.server._openapi import openapi_document
from wdk.worlds.base import EventType, NewEvent, RunInfo


@pytest.fixture(scope="module")
def completed(server: Any) -> str:
    """A completed run with five completed steps (`streams_demo`)."""
    with checked_client(server.url, timeout=httpx.Timeout(30.0)) as client:
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
    ref = fork["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert body["additionalProperties"] is False and "from_step" in body["properties"]
    run = doc["components"]["schemas"]["Run"]["properties"]
    assert {"deployment_id", "forked_from", "blocked"} <= set(run)
    assert "blocked" in run["status"]["enum"]
    status = next(
        p for p in doc["paths"]["/api/runs"]["get"]["parameters"] if p["name"] == "status"
    )
    assert "blocked" in status["schema"]["enum"]


def test_a_blocked_run_shows_why_in_its_json() -> None:
    block = {
        "message": "event #3: the log recorded step a, the code now calls step b",
        "code": "REPLAY_DIVERGENCE",
        "event": 3,
        "position": 1,
        "expected": "step a",
        "actual": "step b",
        "location": "orders.py:12",
        "worker": "w-1",
        "at": 1.0,
    }
    info = RunInfo(
        "wrun_x",
        "workflow//orders.py//f",
        "blocked",
        1.0,
        error=serde.encode(block),
        deployment_id="v1",
        forked_from="wrun_w",
    )
    out = run_json(info)
    assert out["blocked"] == {
        "message": block["message"],
        "code": "REPLAY_DIVERGENCE",
        "event": 3,
        "location": "orders.py:12",
    }
    assert (out["deployment_id"], out["forked_from"]) == ("v1", "wrun_w")
    assert "error" not in out
    damaged = run_json(RunInfo("wrun_y", "workflow//orders.py//f", "blocked", 1.0, error=b"\xff"))
    assert damaged["blocked"]["code"] == "" and damaged["blocked"]["event"] is None


def test_retry_of_a_blocked_run(tmp_path: Path) -> None:
    """In-process app on a real SQLite file; the run is parked by hand (no worker runs)."""
    world_url = f"sqlite:///{tmp_path / 'wdk.db'}"
    app = create_app(
        world_url,
        project=Project([FIXTURES]),
        config=ServerConfig(worker_concurrency=0),
    )
    block = {"message": "parked", "code": "STEP_NOT_REGISTERED", "event": None, "location": ""}
    with TestClient(app) as client:
        world = app.state.wdk.world

        async def park() -> str:
            run = await api_start(wf("streams_demo"), [], world=world)
            await world.append(run.run_id, [NewEvent(EventType.RUN_STARTED)])
            await world.append(
                run.run_id, [NewEvent(EventType.RUN_BLOCKED, None, serde.encode(block))]
            )
            return run.run_id

        run_id = client.portal.call(park)  # type: ignore[union-attr]
        shown = client.get(f"/api/runs/{run_id}").json()
        assert shown["status"] == "blocked" and shown["blocked"]["code"] == "STEP_NOT_REGISTERED"
        resp = client.post(f"/api/runs/{run_id}/retry")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"run_id": run_id, "status": "running"}
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
        again = client.post(f"/api/runs/{run_id}/retry")
        assert again.status_code == 409 and again.json()["run_status"] == "running"


def test_a_pinned_server_records_its_deployment(tmp_path: Path) -> None:
    srv = serve(tmp_path, args=("--deployment", "v9"))
    try:
        with checked_client(srv.url, timeout=httpx.Timeout(30.0)) as client:
            run_id = start(client, "streams_demo")
            run = wait_end(client, run_id)  # the embedded v9 worker claims v9 runs
            assert (run["status"], run["deployment_id"]) == ("completed", "v9")
            listed = client.get("/api/runs", params={"deployment": "v9"}).json()["runs"]
            assert [r["run_id"] for r in listed] == [run_id]
            assert client.get("/api/runs", params={"deployment": "v8"}).json()["runs"] == []
            forked = client.post(f"/api/runs/{run_id}/fork", json={"from_step": 1}).json()
            assert wait_end(client, forked["run_id"])["deployment_id"] == "v9"
    finally:
        stop(srv)
    adopt = subprocess.run(
        [WDK, "serve", "--adopt", "--port", "0"],
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert adopt.returncode == 2 and "--adopt needs --deployment" in adopt.stderr
