"""A real `wdk serve` subprocess on 127.0.0.1 and httpx helpers to drive it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "server"
WDK = str(Path(sys.executable).parent / "wdk")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    world: str
    env: dict[str, str]
    log: list[str] = field(default_factory=list)


def serve(tmp: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Server:
    """Start `wdk serve --port 0` and return once it printed its address."""
    full_env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "WDK_CACHE_DIR": str(tmp / "cache"),
        "WDK_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    full_env.pop("WDK_WORLD", None)
    world = f"sqlite:///{tmp / 'wdk.db'}"
    cmd = [
        WDK,
        "serve",
        "--port",
        "0",
        "--root",
        str(FIXTURES),
        "--world",
        world,
        *args,
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=full_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        line = lines.get(timeout=60)
        if line is None:
            raise RuntimeError("wdk serve exited:\n" + "".join(log))
        if "listening on " in line:
            return Server(line.rsplit("listening on ", 1)[1].strip(), proc, world, full_env, log)


def stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    finally:
        if server.proc.stderr is not None:
            server.proc.stderr.close()


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
