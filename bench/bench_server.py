"""Server-path latencies on SQLite: hook resume -> workflow continues, chunk write -> reader.

* **hook resume -> workflow continue**: ``resume_hook(token, i)`` on a run waiting in
  ``await hook``; the clock stops when the workflow's next durable call (the ``step_created``
  of the step it makes with the payload) is in the log. An in-process worker; the observer
  sleeps on the world's change notification.
* **chunk write -> reader**: a writer appends a chunk (what ``await stream.write(x)`` in a
  step does) and a ``Run.get_readable()`` reader in the same process receives it.
* **chunk write -> SSE reader**: the same, but the reader is an HTTP client on
  ``GET /api/runs/{id}/stream`` of a ``wdk serve`` subprocess on the same SQLite file (so the
  wake-up crosses processes: the server sees the commit through the SQLite poll).

Run: ``.venv/bin/python bench/bench_server.py [n]``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk import serde  # noqa: E402
from wdk.api import get_run, resume_hook, set_world, start  # noqa: E402
from wdk.runtime import Project, Worker, set_default_project  # noqa: E402
from wdk.worlds import open_world  # noqa: E402
from wdk.worlds.base import World  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "server"


def stats(samples: list[float]) -> tuple[float, float]:
    """(median, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def _count(world: World, run_id: str, etype: str) -> int:
    return sum(1 for e in await world.read_events(run_id) if e.type == etype)


async def _wait_count(world: World, run_id: str, etype: str, n: int) -> None:
    while await _count(world, run_id, etype) < n:
        await world.wait_for_change([f"run:{run_id}"], 5.0)


async def hook_latency(world: World, n: int) -> list[float]:
    project = Project([FIXTURES])
    set_default_project(project)
    worker = Worker(world, project, concurrency=4)
    samples: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        run = await start("workflow//server_bench.py//hook_loop", ["bench", n], world=world)
        while await world.get_hook_by_token("bench") is None:
            await world.wait_for_change([f"run:{run.run_id}"], 5.0)
        for i in range(n):
            t0 = time.perf_counter()
            await resume_hook("bench", i, world=world)
            await _wait_count(world, run.run_id, "step_created", i + 1)
            samples.append(time.perf_counter() - t0)
            await _wait_count(world, run.run_id, "step_completed", i + 1)
        await run.return_value(timeout=60)
        worker.stop()
    return samples


async def stream_latency(world: World, n: int) -> list[float]:
    run = await start("workflow//server_bench.py//hook_loop", ["idle", 0], world=world)
    samples: list[float] = []
    got = anyio.Event()

    async def reader() -> None:
        nonlocal got
        async for value in get_run(run.run_id, world=world).get_readable(namespace="bench"):
            samples.append(time.perf_counter() - value)
            got.set()
            if len(samples) == n:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        for _ in range(n):
            got = anyio.Event()
            await world.write_chunk(run.run_id, "bench", serde.encode(time.perf_counter()))
            await got.wait()
    return samples


def sse_latency(db: Path, n: int) -> list[float]:
    env = {**os.environ, "PYTHONHASHSEED": "0", "WDK_LOG_LEVEL": "WARNING"}
    env["WDK_CACHE_DIR"] = str(db.parent / "cache")
    world_url = f"sqlite:///{db}"
    cmd = [str(Path(sys.executable).parent / "wdk"), "serve", "--port", "0", "--world", world_url]
    cmd += ["--root", str(FIXTURES), "--workers", "0"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if "listening on " in line:
                url = line.rsplit("listening on ", 1)[1].strip()
                break
        return anyio.run(_sse_latency, url, world_url, n)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _sse_latency(url: str, world_url: str, n: int) -> list[float]:
    world = open_world(world_url)
    await world.setup()
    run = await start("workflow//server_bench.py//hook_loop", ["sse", 0], world=world)
    samples: list[float] = []
    ready = anyio.Event()
    got = anyio.Event()

    async def reader() -> None:
        nonlocal got
        params = {"namespace": "bench"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            async with client.stream("GET", f"/api/runs/{run.run_id}/stream", params=params) as r:
                ready.set()
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        samples.append(time.perf_counter() - float(line[6:]))
                        got.set()
                        if len(samples) == n:
                            return

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await ready.wait()
        for _ in range(n):
            got = anyio.Event()
            await world.write_chunk(run.run_id, "bench", serde.encode(time.perf_counter()))
            await got.wait()
    await world.close()
    return samples


async def in_process(db: Path, n: int) -> dict[str, list[float]]:
    world = open_world(f"sqlite:///{db}")
    await world.setup()
    set_world(world)
    try:
        return {
            "hook": await hook_latency(world, n),
            "stream": await stream_latency(world, n),
        }
    finally:
        await world.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WDK_CACHE_DIR"] = str(Path(tmp) / "cache")
        results = anyio.run(in_process, Path(tmp) / "a.db", n)
        results["sse"] = sse_latency(Path(tmp) / "b.db", n)
    rows = [
        ("hook resume -> workflow continues (in-process worker)", results["hook"]),
        ("chunk write -> `get_readable()` reader (same process)", results["stream"]),
        ("chunk write -> SSE reader via `wdk serve` (other process)", results["sse"]),
    ]
    lines = [
        "## Server paths: hooks and streams",
        "",
        f"Milliseconds over {n} samples each, SQLite world (`synchronous=FULL`); {machine()}.",
        "Produced by `bench/bench_server.py`; see its docstring for what each row measures.",
        "",
        "| path | median | p99 |",
        "|---|---:|---:|",
    ]
    for name, samples in rows:
        med, p99 = stats(samples)
        lines.append(f"| {name} | {med:.2f} | {p99:.2f} |")
    text = "\n".join(lines)
    print(text)
    write_section("server", text)


if __name__ == "__main__":
    main()
