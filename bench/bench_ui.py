"""Server time of the web UI's reads: the runs list over 100,000 runs, a 1,000-step run page.

* **runs list**: 100,000 runs (of 4 workflows, statuses mixed) are written through the world
  API (``append`` of ``run_created``/``run_started``/``run_completed``|``run_failed``); then
  the first page (50 runs, what the UI asks for) is timed as ``GET /api/runs`` unfiltered,
  by status, by workflow, by status and workflow, by run id prefix, and a page deep in the
  cursor chain; and the live feed's first event (``GET /api/runs/feed``).
* **run page**: one run of 1,000 steps (each created, started, completed, with arguments and a
  result): what the run page reads, ``GET /api/runs/{id}``, ``/steps`` and ``/events``.

Server time: the app is called in-process through httpx's ASGI transport (no sockets), so
the number is the route's work (queries, decoding, JSON) plus a few microseconds of transport.
SQLite always; PostgreSQL too with ``--pg`` (``WDK_BENCH_POSTGRES_URL``, a fresh schema).

Run: ``.venv/bin/python bench/bench_ui.py [--pg]``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk import serde  # noqa: E402
from wdk.server import ServerConfig, create_app  # noqa: E402
from wdk.server._app import ServerState  # noqa: E402
from wdk.worlds import open_world  # noqa: E402
from wdk.worlds.base import EventType, NewEvent, World  # noqa: E402

RUNS = 100_000
STEPS = 1_000
REPEAT = 30
WORKFLOWS = [f"workflow//shop.py//flow_{i}" for i in range(4)]
PG = os.environ.get("WDK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _created(workflow: str, args: list[Any]) -> bytes:
    return msgpack.packb({"workflow_id": workflow, "input": serde.encode(args)})


async def fill_runs(world: World, n: int) -> None:
    """``n`` runs: 70% completed, 10% failed, 20% running, over 4 workflows."""
    done = serde.encode({"ok": True})
    failed = serde.encode({"message": "boom", "code": "", "type": "builtins.ValueError"})
    started = msgpack.packb({"at": time.time()})
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        events = [
            NewEvent(EventType.RUN_CREATED, data=_created(WORKFLOWS[i % 4], [i])),
            NewEvent(EventType.RUN_STARTED, data=started),
        ]
        if i % 10 < 7:
            events.append(NewEvent(EventType.RUN_COMPLETED, data=done))
        elif i % 10 == 7:
            events.append(NewEvent(EventType.RUN_FAILED, data=failed))
        async with sem:
            await world.append(f"wrun_bench_{i:07d}", events, durable=False)

    for base in range(0, n, 2000):
        await asyncio.gather(*(one(i) for i in range(base, min(base + 2000, n))))
        print(f"  {min(base + 2000, n)}/{n} runs", file=sys.stderr, end="\r")
    print(file=sys.stderr)


async def fill_steps(world: World, run_id: str, n: int) -> None:
    """One run of ``n`` steps, each created, started and completed (as the worker writes)."""
    await world.append(
        run_id,
        [
            NewEvent(EventType.RUN_CREATED, data=_created(WORKFLOWS[0], ["big"])),
            NewEvent(EventType.RUN_STARTED, data=msgpack.packb({"at": time.time()})),
        ],
    )
    now = time.time()
    for i in range(n):
        cid = f"step_{i:020x}"
        created = msgpack.packb(
            {
                "step": "step//shop.py//charge",
                "pos": i + 1,
                "args": serde.encode([{"order": i, "items": ["a", "b"], "total": 12.5}]),
                "kwargs": None,
                "closure": None,
                "max_retries": None,
            }
        )
        t = now + i * 0.01
        await world.append(
            run_id,
            [
                NewEvent(EventType.STEP_CREATED, cid, created),
                NewEvent(EventType.STEP_STARTED, cid, msgpack.packb({"attempt": 1, "at": t})),
                NewEvent(
                    EventType.STEP_COMPLETED,
                    cid,
                    serde.encode({"at": t + 0.005, "result": {"charged": i}, "attempt": 1}),
                ),
            ],
            durable=False,
        )
    await world.append(run_id, [NewEvent(EventType.RUN_COMPLETED, data=serde.encode("ok"))])


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def _time(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[float]:
    samples = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        resp = await client.get(path, params=params)
        samples.append(time.perf_counter() - t0)
        assert resp.status_code == 200, resp.text
    return samples


async def _first_feed_event(app: Any) -> list[float]:
    """The feed's first event, from the route's own body iterator (httpx's ASGI transport
    would wait for the end of a response that never ends)."""
    from starlette.requests import Request

    from wdk.server._routes_ui import runs_feed

    samples = []
    for _ in range(REPEAT):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/api/runs/feed",
            "query_string": b"limit=50",
            "headers": [],
            "app": app,
        }
        t0 = time.perf_counter()
        resp = await runs_feed(Request(scope))
        body = resp.body_iterator  # type: ignore[attr-defined]
        first = await body.__anext__()
        samples.append(time.perf_counter() - t0)
        await body.aclose()
        assert first.startswith(b"event: runs")
    return samples


async def measure(world: World) -> list[tuple[str, float, float]]:
    """Rows (what, median ms, p99 ms) for a world already filled."""
    app = create_app(world, config=ServerConfig(worker_concurrency=0))
    app.state.wdk = ServerState(world=world, project=None, config=ServerConfig())
    rows: list[tuple[str, float, float]] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        first = (await client.get("/api/runs", params={"limit": 50})).json()
        cursor = first["cursor"]
        for _ in range(40):  # 2,000 runs deep
            cursor = (await client.get("/api/runs", params={"limit": 50, "cursor": cursor})).json()[
                "cursor"
            ]
        cases = [
            ("runs list, first page (50 of 100,000)", {}),
            ("... status=running", {"status": "running"}),
            ("... status=failed", {"status": "failed"}),
            ("... workflow=flow_2", {"workflow": WORKFLOWS[2]}),
            ("... status=failed & workflow=flow_3", {"status": "failed", "workflow": WORKFLOWS[3]}),
            ("... run id prefix", {"prefix": "wrun_bench_00123"}),
            ("... page 41 (cursor)", {"cursor": cursor}),
        ]
        for name, params in cases:
            page = (await client.get("/api/runs", params={"limit": 50, **params})).json()
            assert len(page["runs"]) == 50, (name, page)
            rows.append((name, *_stats(await _time(client, "/api/runs", {"limit": 50, **params}))))
        rows.append(("live feed, first event (50 runs)", *_stats(await _first_feed_event(app))))
        big = "wrun_bench_steps"
        for name, path, params in [
            ("run page: GET /api/runs/{id}", f"/api/runs/{big}", {}),
            ("run page: /steps (1,000 steps)", f"/api/runs/{big}/steps", {}),
            ("run page: /events (3,003 events)", f"/api/runs/{big}/events", {"limit": 5000}),
        ]:
            rows.append((name, *_stats(await _time(client, path, params))))
        steps = (await client.get(f"/api/runs/{big}/steps")).json()["steps"]
        assert len(steps) == STEPS and steps[-1]["output"] == {"charged": STEPS - 1}
    return rows


async def bench(url: str, fresh: bool) -> list[tuple[str, float, float]]:
    world = open_world(url)
    await world.setup()
    try:
        if fresh:
            t0 = time.perf_counter()
            await fill_runs(world, RUNS)
            await fill_steps(world, "wrun_bench_steps", STEPS)
            print(f"  filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return await measure(world)
    finally:
        drop = getattr(world, "drop_schema", None)
        if drop is not None:
            await drop()
        await world.close()


def _table(rows: list[tuple[str, float, float]]) -> str:
    lines = ["| read | median | p99 |", "|---|---:|---:|"]
    lines += [f"| {name} | {med:.1f} ms | {p99:.1f} ms |" for name, med, p99 in rows]
    return "\n".join(lines)


def main() -> None:
    """Fill the worlds, time the reads, write the section."""
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:", file=sys.stderr)
        sqlite_rows = asyncio.run(bench(f"sqlite:///{Path(tmp) / 'ui.db'}", True))
    parts = [
        "## Web UI reads (server time)",
        "",
        f"`bench/bench_ui.py` on {machine()}: {RUNS:,} runs in the world (4 workflows; 70% "
        "completed, 10% failed, 20% running), written through `World.append`; one run of "
        f"{STEPS:,} steps. Each read {REPEAT} times through the app in-process (httpx ASGI "
        "transport: the route's queries, decoding and JSON, no sockets). Targets: first page "
        "of the runs list < 200 ms, the 1,000-step run page < 500 ms (its three reads "
        "together).",
        "",
        "**SQLite**",
        "",
        _table(sqlite_rows),
    ]
    if "--pg" in sys.argv:
        print("PostgreSQL:", file=sys.stderr)
        schema = f"wdk_bench_ui_{uuid.uuid4().hex[:8]}"
        pg_rows = asyncio.run(bench(f"{PG}?schema={schema}", True))
        parts += ["", "**PostgreSQL**", "", _table(pg_rows)]
    parts += [
        "",
        "Every runs-list read walks an index in creation order (`runs_created`, `runs_status`, "
        "`runs_workflow`) and stops after 51 rows (a prefix: a range of the primary key, sorted); "
        "no `OFFSET`, "
        "no count, so the time does not grow with the number of runs. Status and workflow "
        "together use one of the two indexes and filter the other column (on PostgreSQL ~10 ms "
        "when 1 run in 40 matches). The run page's cost is decoding: every event's msgpack and "
        "the user values inside it, once for `/steps` and once for `/events`; the UI asks for "
        "both once, then only the events after the last seq it has.",
    ]
    print("\n".join(parts))
    write_section("ui", "\n".join(parts))


if __name__ == "__main__":
    main()
