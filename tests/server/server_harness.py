"""A real `wdk serve` subprocess on 127.0.0.1 and httpx helpers to drive it."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from serve import WDK, launch, serve_env, stop_process

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "server"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    world: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)


def serve(tmp: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Server:
    """Start `wdk serve --port 0` and return once it printed its address."""
    full_env = serve_env(tmp, env)
    world = f"sqlite:///{tmp / 'wdk.db'}"
    cmd = [WDK, "serve", "--port", "0", "--root", str(FIXTURES), "--world", world, *args]
    url, proc, log = launch(cmd, tmp, full_env)
    return Server(url, proc, world, full_env, log)


def stop(server: Server) -> None:
    stop_process(server.proc)


def wf(name: str) -> str:
    return f"workflow//server_flows.py//{name}"


def start(client: httpx.Client, name: str, *args: Any, run_id: str | None = None) -> str:
    body: dict[str, Any] = {"args": list(args)}
    if run_id:
        body["run_id"] = run_id
    resp = client.post(f"/api/workflows/{quote(wf(name), safe='')}/runs", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.headers["x-workflow-run-id"] == resp.json()["run_id"]
    return str(resp.json()["run_id"])


@dataclass
class SseEvent:
    event: str
    id: int | None
    data: Any


@contextlib.contextmanager
def sse(
    client: httpx.Client,
    run_id: str,
    namespace: str | None = None,
    start: int | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[httpx.Response, Iterator[SseEvent]]]:
    """Open the SSE stream; yields (response, events)."""
    params: dict[str, Any] = {}
    if namespace is not None:
        params["namespace"] = namespace
    if start is not None:
        params["startIndex"] = start
    with client.stream("GET", f"/api/runs/{run_id}/stream", params=params, headers=headers) as resp:
        yield resp, _events(resp)


def _events(resp: httpx.Response) -> Iterator[SseEvent]:
    event, ident, data = "message", None, []
    for line in resp.iter_lines():
        if line == "":
            if data:
                yield SseEvent(event, ident, json.loads("\n".join(data)))
            event, ident, data = "message", None, []
        elif line.startswith((":", "retry:")):
            continue
        elif line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def read_chunks(
    client: httpx.Client, run_id: str, namespace: str | None = None, start: int | None = None
) -> list[tuple[int, Any]]:
    """Every chunk from ``start`` until the stream ends (closed or run over)."""
    out = []
    with sse(client, run_id, namespace, start) as (_, events):
        for ev in events:
            if ev.event == "end":
                return out
            assert ev.id is not None
            out.append((ev.id, ev.data))
    raise AssertionError("stream ended without an end event")


def first_chunk(client: httpx.Client, run_id: str, namespace: str, index: int = 0) -> Any:
    """Wait (on SSE) for the chunk at ``index`` of a stream and return it."""
    with sse(client, run_id, namespace, index) as (_, events):
        for ev in events:
            if ev.event == "end":
                run = client.get(f"/api/runs/{run_id}").json()
                raise AssertionError(f"stream {namespace} ended before chunk {index}: {run}")
            return ev.data
    raise AssertionError("no chunk")


def wait_end(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """Wait for the run to end (an SSE stream of an unused namespace ends with the run)."""
    read_chunks(client, run_id, "__test_wait__")
    resp = client.get(f"/api/runs/{run_id}")
    assert resp.status_code == 200
    run: dict[str, Any] = resp.json()
    assert run["status"] in ("completed", "failed", "cancelled"), run
    return run


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `wdk` command against the server's world."""
    return subprocess.run(
        [WDK, *args, "--world", server.world],
        env=server.env,
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
    )
