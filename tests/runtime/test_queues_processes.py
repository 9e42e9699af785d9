"""Flow control with real processes: `wdk worker` and `wdk serve` subprocesses on SQLite and
PostgreSQL, limits measured from the steps' own start and end timestamps (fixtures/queues).

Every limit is enforced by the world, so these tests run several processes against one world
and check what they did together: at most N at once *and* N reached, one per key, a rate
window, priority order, and a slot given back after a worker holding it is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from serve import WDK, launch, serve_env, stop_process

from wdk.api import get_run, start
from wdk.worlds import open_world

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

QUEUES = Path(__file__).resolve().parents[2] / "fixtures" / "queues"
if str(QUEUES) not in sys.path:
    sys.path.insert(0, str(QUEUES))

import queue_flows as flows  # noqa: E402

JOB = "workflow//queue_flows.py//job"


@dataclass
class Backend:
    kind: str
    url: str
    world: Any
    env: dict[str, str]
    log: Path

    def lines(self) -> list[tuple[str, str, float, int]]:
        """(start|end, tag, time, pid) per logged step event, in file order."""
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(r[0], r[1], float(r[2]), int(r[3])) for r in rows]

    def admitted_at(self, queue: str) -> list[float]:
        """When each run of ``queue`` was admitted, by the world's own clock, in order."""
        sql = "SELECT admitted_at FROM {}runs WHERE queue = %s ORDER BY admitted_at"
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                return [t for (t,) in conn.execute(sql.format("").replace("%s", "?"), (queue,))]
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url.split("?")[0]) as conn:
            cur = conn.execute(sql.format(f'"{self.world.schema}".'), (queue,))  # type: ignore[arg-type]
            return [float(t) for (t,) in cur.fetchall()]


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wdk.db'}"
    else:
        from pg import PG_URL, require_postgres

        require_postgres()
        schema = f"wdk_q_{uuid.uuid4().hex[:10]}"
        url = f"{PG_URL}?schema={schema}"
    env = serve_env(tmp_path, {"QUEUE_LOG": str(tmp_path / "log.txt")})
    env["QUEUE_GATE"] = str(tmp_path / "gate")
    os.environ["QUEUE_LOG"] = env["QUEUE_LOG"]
    world = open_world(url)
    await world.setup()
    try:
        yield Backend(request.param, url, world, env, tmp_path / "log.txt")
    finally:
        if schema is not None:
            await world.drop_schema()
        await world.close()


def _worker(b: Backend, *extra: str, deployment: str | None = None) -> subprocess.Popen[bytes]:
    env = b.env if deployment is None else {**b.env, "WDK_DEPLOYMENT_ID": deployment}
    return subprocess.Popen(
        [WDK, "worker", "--world", b.url, "--root", str(QUEUES), "-c", "8", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            _stop(proc)


def max_overlap(lines: list[tuple[str, str, float, int]], tags: set[str] | None = None) -> int:
    """The most steps running at once, from their start and end times."""
    points = sorted(
        (t, 0 if kind == "end" else 1)  # at a tie, an end comes before a start
        for kind, tag, t, _ in lines
        if tags is None or tag in tags
    )
    running = peak = 0
    for _, is_start in points:
        running += 1 if is_start else -1
        peak = max(peak, running)
    return peak


async def _finish(b: Backend, run_ids: list[str]) -> list[Any]:
    return [await get_run(r, world=b.world).return_value(timeout=120) for r in run_ids]


async def test_a_queue_limit_of_2_holds_and_is_reached_across_a_server_and_a_worker(
    backend: Backend, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    # Both processes must work: the server's embedded worker is pinned to deployment "s"
    # (the runs it starts over HTTP are on it), the worker to "w" (the runs started here).
    cmd = [WDK, "serve", "--port", "0", "--root", str(QUEUES), "--world", backend.url]
    url, server, _ = launch(cmd, tmp_path, {**backend.env, "WDK_DEPLOYMENT_ID": "s"})
    try:
        workers.append(_worker(backend, deployment="w"))
        with httpx.Client(base_url=url, timeout=30) as client:
            ids = []
            for i in range(8):
                if i % 2:
                    run = await start(
                        flows.job, [f"t{i}", 0.4], world=backend.world, queue="reports",
                        deployment_id="w",
                    )  # fmt: skip
                    ids.append(run.run_id)
                    continue
                resp = client.post(
                    f"/api/workflows/{quote(JOB, safe='')}/runs",
                    json={"args": [f"t{i}", 0.4], "queue": "reports"},
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["run_id"])
            statuses = [client.get(f"/api/runs/{r}").json()["status"] for r in ids]
            assert "queued" in statuses
            assert await _finish(backend, ids) == [f"t{i}" for i in range(8)]
    finally:
        stop_process(server)
    lines = backend.lines()
    assert len(lines) == 16
    assert max_overlap(lines) == 2  # never more than 2, and 2 reached
    pids = {tag: pid for kind, tag, _, pid in lines}
    assert len({pids[f"t{i}"] for i in range(0, 8, 2)}) == 1  # the server ran these
    assert len({pids[f"t{i}"] for i in range(1, 8, 2)}) == 1  # the worker ran those
    assert len(set(pids.values())) == 2


async def test_per_key_limit(backend: Backend, workers: list[subprocess.Popen[bytes]]) -> None:
    keys = ["a", "a", "a", "b", "b", "c"]
    runs = [
        await start(flows.job, [f"{k}{i}", 0.3], world=backend.world, queue="per_customer", key=k)
        for i, k in enumerate(keys)
    ]
    workers.append(_worker(backend))
    await _finish(backend, [r.run_id for r in runs])
    lines = backend.lines()
    for key in "abc":
        tags = {f"{k}{i}" for i, k in enumerate(keys) if k == key}
        assert max_overlap(lines, tags) == 1
    assert max_overlap(lines) == 3  # one of each key at once: keys do not wait for each other
    order = [tag for kind, tag, *_ in lines if kind == "start" and tag.startswith("a")]
    assert order == ["a0", "a1", "a2"]


async def test_rate_limit_over_3_seconds(
    backend: Backend, workers: list[subprocess.Popen[bytes]]
) -> None:
    workers.append(_worker(backend))
    runs = [
        await start(flows.job, [f"r{i}", 0], world=backend.world, queue="limited") for i in range(8)
    ]
    await _finish(backend, [r.run_id for r in runs])
    admitted = backend.admitted_at("limited")  # "2/s": at most 2 admissions in any second
    assert len(admitted) == 8
    assert all(
        later - earlier >= 1.0 for earlier, later in zip(admitted, admitted[2:], strict=False)
    )
    assert admitted[-1] - admitted[0] >= 3.0


async def test_priority_order_then_fifo(
    backend: Backend, workers: list[subprocess.Popen[bytes]]
) -> None:
    # The gated run takes the only slot; the others wait and then go by priority.
    blocker = await start(flows.gated_job, ["blocker"], world=backend.world, queue="serial")
    order = [("p0", 0), ("p5a", 5), ("p1", 1), ("p5b", 5), ("p3", 3)]
    runs = [
        await start(flows.job, [tag, 0], world=backend.world, queue="serial", priority=p)
        for tag, p in order
    ]
    assert {await r.status() for r in runs} == {"queued"}
    workers.append(_worker(backend))
    Path(backend.env["QUEUE_GATE"]).touch()
    await _finish(backend, [blocker.run_id, *(r.run_id for r in runs)])
    started = [tag for kind, tag, *_ in backend.lines() if kind == "start"]
    assert started == ["blocker", "p5a", "p5b", "p3", "p1", "p0"]


async def test_a_worker_sigkilled_while_holding_a_slot_gives_it_back(
    backend: Backend, workers: list[subprocess.Popen[bytes]]
) -> None:
    holder = await start(flows.gated_job, ["holder"], world=backend.world, queue="serial")
    waiter = await start(flows.job, ["waiter", 0], world=backend.world, queue="serial")
    first = _worker(backend, "--lease", "1.5")
    workers.append(first)
    while not any(kind == "start" for kind, *_ in backend.lines()):
        await backend.world.wait_for_change([f"run:{holder.run_id}"], 0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert await waiter.status() == "queued"  # the killed worker's run still holds the slot
    Path(backend.env["QUEUE_GATE"]).touch()
    workers.append(_worker(backend, "--lease", "1.5"))
    assert await holder.return_value(timeout=120) == "holder"
    assert await waiter.return_value(timeout=120) == "waiter"
    lines = backend.lines()
    assert [tag for kind, tag, *_ in lines if kind == "start"] == ["holder", "holder", "waiter"]
    assert max_overlap(lines, {"waiter", "holder"}) <= 2  # the killed attempt never ended
    (holder_end,) = [t for kind, tag, t, _ in lines if kind == "end" and tag == "holder"]
    (waiter_start,) = [t for kind, tag, t, _ in lines if kind == "start" and tag == "waiter"]
    assert waiter_start >= holder_end


def _step_claims(b: Backend) -> list[float]:
    """When each rate-limited step message was claimed, by the world's clock, in order."""
    sql = "SELECT at FROM {}step_claims ORDER BY at"
    if b.kind == "sqlite":
        conn = sqlite3.connect(b.url.removeprefix("sqlite:///"))
        try:
            return [t for (t,) in conn.execute(sql.format(""))]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(b.url.split("?")[0]) as conn:
        cur = conn.execute(sql.format(f'"{b.world.schema}".'))  # type: ignore[arg-type]
        return [float(t) for (t,) in cur.fetchall()]


async def test_step_concurrency_holds_across_two_workers(
    backend: Backend, workers: list[subprocess.Popen[bytes]]
) -> None:
    runs = [await start(flows.fan_out, [4], world=backend.world) for _ in range(2)]
    workers.extend([_worker(backend), _worker(backend)])
    for run in runs:
        assert await run.return_value(timeout=120) == [f"c{i}" for i in range(4)]
    lines = backend.lines()
    assert len(lines) == 16
    assert max_overlap(lines) == 2  # `limited_call.concurrency = 2`, fleet-wide; reached


async def test_step_rate_holds_over_3_seconds(
    backend: Backend, workers: list[subprocess.Popen[bytes]]
) -> None:
    run = await start(flows.paced, [8], world=backend.world)
    workers.extend([_worker(backend), _worker(backend)])
    assert await run.return_value(timeout=120) == [f"p{i}" for i in range(8)]
    claims = _step_claims(backend)  # `paced_call.rate = "2/s"`
    assert len(claims) == 8
    assert all(later - earlier >= 1.0 for earlier, later in zip(claims, claims[2:], strict=False))
    assert claims[-1] - claims[0] >= 3.0
