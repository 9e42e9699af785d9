"""Flow control over HTTP: a real `wdk serve` on SQLite and PostgreSQL takes the start fields
(``queue``, ``key``, ``priority``, ``dedupe_key``, ``debounce``, ``delay``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from serve import WDK, launch, serve_env, stop_process

pytestmark = pytest.mark.slow

QUEUES = Path(__file__).resolve().parents[2] / "fixtures" / "queues"
JOB = quote("workflow//queue_flows.py//job", safe="")
GATED = quote("workflow//queue_flows.py//gated_job", safe="")


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    schema = None
    if request.param == "sqlite":
        world = f"sqlite:///{tmp_path / 'wdk.db'}"
    else:
        from pg import PG_URL, require_postgres

        require_postgres()
        schema = f"wdk_s_{uuid.uuid4().hex[:10]}"
        world = f"{PG_URL}?schema={schema}"
    env = serve_env(
        tmp_path, {"QUEUE_LOG": str(tmp_path / "log.txt"), "QUEUE_GATE": str(tmp_path / "gate")}
    )
    cmd = [WDK, "serve", "--port", "0", "--root", str(QUEUES), "--world", world]
    url, proc, _ = launch(cmd, tmp_path, env)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, tmp_path / "gate"
    finally:
        (tmp_path / "gate").touch()
        stop_process(proc)
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


def _post(client: httpx.Client, workflow: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/api/workflows/{workflow}/runs", json=body)


def _wait_done(client: httpx.Client, run_id: str) -> dict[str, Any]:
    while True:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return dict(run)
        client.get(f"/api/runs/{run_id}/stream", timeout=30)  # returns when the run ends


def test_dedupe_key_answers_200_with_the_unfinished_run(
    api: tuple[httpx.Client, Path],
) -> None:
    client, gate = api
    body = {"args": ["g"], "queue": "serial", "dedupe_key": "invoice-991"}
    first = _post(client, GATED, body)
    assert first.status_code == 201, first.text
    again = _post(client, GATED, {**body, "args": ["other"]})
    assert again.status_code == 200
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.headers["x-workflow-run-id"] == first.json()["run_id"]
    gate.touch()
    assert _wait_done(client, first.json()["run_id"])["status"] == "completed"
    third = _post(client, GATED, body)  # the first run finished: the key is free
    assert third.status_code == 201 and third.json()["run_id"] != first.json()["run_id"]


def test_debounce_collapses_starts_into_one_run_with_the_last_arguments(
    api: tuple[httpx.Client, Path],
) -> None:
    client, _ = api
    ids = []
    for i in range(3):
        last_start = time.time()
        resp = _post(
            client,
            JOB,
            {"args": [f"v{i}", 0], "queue": "reports", "key": "customer-42", "debounce": "1s"},
        )
        assert resp.status_code == (201 if i == 0 else 200), resp.text
        ids.append(resp.json()["run_id"])
    assert len(set(ids)) == 1
    assert client.get(f"/api/runs/{ids[0]}").json()["status"] == "queued"
    assert (
        client.get("/api/runs", params={"status": "queued"}).json()["runs"][0]["run_id"] == ids[0]
    )
    run = _wait_done(client, ids[0])
    assert run["status"] == "completed"
    assert run["output"] == "v2"  # the last start's arguments
    assert run["started_at"] >= last_start + 1.0  # the window closed after the last start
    assert len(client.get("/api/runs").json()["runs"]) == 1


def test_priority_and_delay_fields_and_bad_input(api: tuple[httpx.Client, Path]) -> None:
    client, _ = api
    resp = _post(
        client, JOB, {"args": ["d", 0], "queue": "reports", "delay": "200ms", "priority": 2}
    )
    assert resp.status_code == 201, resp.text
    run = _wait_done(client, resp.json()["run_id"])
    assert run["status"] == "completed"
    for body, fragment in [
        ({"queue": "nope"}, "unknown queue 'nope'"),
        ({"key": "k"}, "needs a queue"),
        ({"queue": "reports", "debounce": "5s"}, "debounce needs a key"),
        ({"queue": "reports", "delay": "soon"}, "invalid duration 'soon'"),
        ({"queue": "fifo", "priority": 1}, "first in, first out"),
        ({"queue": "reports", "bogus": 1}, "bogus: unknown field; allowed: args, run_id, queue"),
        ({"queue": "reports", "priority": "high"}, "priority: Input should be a valid integer"),
        ({"queue": "reports", "delay": True}, "delay.str: Input should be a valid string"),
    ]:
        resp = _post(client, JOB, {"args": ["x"], **body})
        assert resp.status_code == 400, (body, resp.text)
        assert fragment in resp.text, (body, resp.text)
    assert len(client.get("/api/runs").json()["runs"]) == 1  # nothing else was written
