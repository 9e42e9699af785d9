"""Schedules through real ``wdk worker`` processes, on SQLite and PostgreSQL.

Two workers tick one 2 s schedule: every tick has exactly one run (the run ids are
deterministic per fire time, so "exactly one" is counted, not timed). Then the workers are
killed for three ticks and a worker comes back: ``catchup="latest"`` starts one run for the
missed ticks and ``catchup="all"`` one per missed tick. The only waiting on the clock is the
downtime itself, which is the behaviour under test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WDK = str(Path(sys.executable).with_name("wdk"))

MODULE = """from wdk import schedule


async def tick() -> str:
    "use workflow"
    return await stamp()


async def stamp() -> str:
    "use step"
    return "ok"


schedule("every2", every="2s", workflow=tick, catchup="all", overlap="allow")
schedule("latest", every="2s", workflow=tick, catchup="latest", overlap="allow")
schedule("all", every="2s", workflow=tick, catchup="all", overlap="allow")
"""


@pytest.fixture(params=["sqlite", "postgres"])
async def world_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wdk.db'}"
        return
    from pg import PG_URL, fresh_schema, require_postgres

    require_postgres()
    schema = fresh_schema()
    yield f"{PG_URL}?schema={schema}"
    from wdk.worlds.postgres import PostgresWorld

    await PostgresWorld(PG_URL, schema=schema).drop_schema()


class App:
    """A project with the schedules module, its world, and the workers importing it."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "app"
        self.root.mkdir()
        self.module = f"jobs_{uuid.uuid4().hex[:6]}"
        (self.root / f"{self.module}.py").write_text(MODULE)
        self.env = dict(os.environ, WDK_CACHE_DIR=str(tmp_path / "cache"), WDK_WORLD=url)
        self.env.pop("WDK_DEPLOYMENT_ID", None)
        self.url = url
        self.world: Any = None
        self.logs: list[Path] = []

    @contextmanager
    def workers(self, n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
        procs = []
        for _ in range(n):
            log = self.tmp / f"worker{len(self.logs)}.log"
            self.logs.append(log)
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [WDK, "worker", "--root", str(self.root), "--import", self.module],
                        env=self.env,
                        stdout=subprocess.DEVNULL,
                        stderr=out,
                    )
                )
        try:
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def started_in_logs(self) -> list[str]:
        """Run ids each worker says it created, over all workers (a tick twice: twice)."""
        found = []
        for log in self.logs:
            for line in log.read_text().splitlines():
                if ": started run sched-" in line:
                    found.append(line.rsplit(" ", 1)[-1])
        return found

    async def runs(self, schedule_id: str) -> dict[float, Any]:
        """The schedule's runs by fire time (parsed back from their ids)."""
        import datetime as dt

        page = await self.world.list_runs(id_prefix=f"sched-{schedule_id}-", limit=1000)
        out = {}
        for run in page.runs:
            stamp = run.run_id.rsplit("-", 1)[-1]
            moment = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
            out[moment.timestamp()] = run
        return out

    async def until(self, predicate: Any, what: str) -> None:
        """Wait for schedule changes until ``predicate()`` holds (a worker dying fails it)."""
        deadline = time.monotonic() + 90
        while not await predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await self.world.wait_for_change(["schedules"], 1.0)


@pytest.fixture
async def app(tmp_path: Path, world_url: str) -> AsyncIterator[App]:
    from wdk.worlds import open_world

    a = App(tmp_path, world_url)
    a.world = open_world(world_url)
    await a.world.setup()
    try:
        yield a
    finally:
        await a.world.close()


async def test_with_two_workers_each_tick_of_a_2s_schedule_starts_exactly_one_run(
    app: App,
) -> None:
    with app.workers(2):

        async def four_ticks() -> bool:
            return len(await app.runs("every2")) >= 4

        await app.until(four_ticks, "four ticks")
    runs = await app.runs("every2")
    fires = sorted(runs)
    # One run per tick, none missing between the first and the last.
    assert fires == [fires[0] + 2 * i for i in range(len(fires))], fires
    for fire in fires:
        events = await app.world.read_events(runs[fire].run_id)
        assert [e.type for e in events].count("run_created") == 1
    # Each worker logs the runs it created: no tick was created by both.
    created = [rid for rid in app.started_in_logs() if rid.startswith("sched-every2-")]
    assert sorted(created) == sorted(r.run_id for r in runs.values())
    # The runs ran: the workflow module was imported in the sandbox per run (schedule()
    # there is a no-op) and finished.
    from wdk.api import get_run

    for fire in fires[:3]:
        assert await get_run(runs[fire].run_id, world=app.world).return_value(timeout=60) == "ok"


async def test_after_three_missed_ticks_catchup_latest_starts_one_run_and_all_three(
    app: App,
) -> None:
    async def state(sid: str) -> Any:
        return await app.world.get_schedule(sid)

    with app.workers(1) as (worker,):

        async def both_ticked_together() -> bool:
            a, b = await state("latest"), await state("all")
            ran = a is not None and a.last_run_id is not None
            return ran and b is not None and a.last_fire == b.last_fire

        await app.until(both_ticked_together, "a tick of both schedules")
        worker.send_signal(signal.SIGKILL)  # just after a pass: the next tick is ~2 s away
        worker.wait()
    last = {sid: (await state(sid)).last_fire for sid in ("latest", "all")}
    before = {sid: set(await app.runs(sid)) for sid in ("latest", "all")}
    # Down for three ticks: wait on the clock, which is what is being tested.
    down_until = max(last.values()) + 3 * 2 + 0.05
    await anyio.sleep(max(0.0, down_until - time.time()))
    with app.workers(1):

        async def caught_up() -> bool:
            fires = [(await state(sid)).last_fire for sid in last]
            return all(f >= last[sid] + 6 for f, sid in zip(fires, last, strict=True))

        await app.until(caught_up, "the pass after the restart")
    latest = {t: r for t, r in (await app.runs("latest")).items() if t not in before["latest"]}
    every = {t: r for t, r in (await app.runs("all")).items() if t not in before["all"]}
    # The restarted worker's first pass: the earliest run it created for "latest".
    first = min(latest.values(), key=lambda r: r.created_at)
    caught = next(t for t, r in latest.items() if r is first)
    missed_latest = [
        last["latest"] + 2 * i for i in range(1, int((caught - last["latest"]) / 2) + 1)
    ]
    missed_all = [last["all"] + 2 * i for i in range(1, int((caught - last["all"]) / 2) + 1)]
    assert len(missed_latest) >= 3 and len(missed_all) >= 3
    # latest: one run, for the most recent missed tick; the others have none.
    assert [t for t in sorted(latest) if t <= caught] == [caught]
    # all: one run per missed tick.
    assert [t for t in sorted(every) if t <= caught] == missed_all
    assert len(missed_all) == len(missed_latest) or last["all"] != last["latest"]
