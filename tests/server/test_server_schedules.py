"""``/api/schedules``: list, pause, resume and trigger over HTTP (the app on a SQLite file).

Every response is checked against the app's own /openapi.json (tests/server/openapi_check).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from openapi_check import Checker
from starlette.testclient import TestClient

from wdk.runtime._schedule_spec import Schedule
from wdk.server import ServerConfig, create_app
from wdk.worlds import open_world

WF = "workflow//jobs.py//report"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    sched = Schedule("ticker", WF, b"\x91\x01", every=2.0, overlap="buffer_one")

    async def seed() -> None:
        world = open_world(url)
        await world.setup()
        await world.put_schedule("ticker", sched.spec(), last_fire=100.0, next_fire=102.0)
        await world.close()

    anyio.run(seed)
    app = create_app(url, config=ServerConfig(worker_concurrency=0))
    with TestClient(app) as c:
        checker = Checker(c.get("/openapi.json").json())
        c.event_hooks = {"response": [checker.check]}
        yield c
        assert any(path.startswith("/api/schedules") for _, path, _ in checker.checked)


def test_schedules_are_listed_paused_resumed_and_triggered(client: TestClient) -> None:
    listed = client.get("/api/schedules")
    assert listed.status_code == 200
    [view] = listed.json()["schedules"]
    assert view == {
        "schedule_id": "ticker",
        "workflow_id": WF,
        "cron": None,
        "every": 2.0,
        "timezone": "UTC",
        "overlap": "buffer_one",
        "catchup": "latest",
        "args": [1],
        "paused": False,
        "last_fire": 100.0,
        "next_fire": 102.0,
        "buffered": None,
        "last_run_id": None,
        "updated_at": view["updated_at"],
    }
    paused = client.post("/api/schedules/ticker/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert paused.json()["next_fire"] is None
    resumed = client.post("/api/schedules/ticker/resume").json()
    assert resumed["paused"] is False and resumed["next_fire"] > resumed["last_fire"] > 100
    started = client.post("/api/schedules/ticker/trigger")
    assert started.status_code == 201
    run_id = started.json()["run_id"]
    assert run_id.startswith("sched-ticker-manual-")
    assert started.headers["x-workflow-run-id"] == run_id
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["workflow_id"] == WF and run["status"] == "pending"
    assert client.get("/api/schedules").json()["schedules"][0]["last_run_id"] == run_id


@pytest.mark.parametrize("action", ["pause", "resume", "trigger"])
def test_an_unknown_schedule_is_404(client: TestClient, action: str) -> None:
    answer = client.post(f"/api/schedules/nope/{action}")
    assert answer.status_code == 404
    assert "no schedule has id 'nope'" in answer.json()["error"]
