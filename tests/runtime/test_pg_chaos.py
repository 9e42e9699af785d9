"""PostgreSQL under chaos: worker subprocesses SIGKILLed and restarted while 500 runs of a
10-step workflow with random durable sleeps go through them; every run completes with the
right result and no step completion is recorded twice. Plus graceful drain on SIGTERM.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pg import PG_URL, fresh_schema, require_postgres

from wdk.api import start
from wdk.worlds.postgres import PostgresWorld

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.postgres]

CHAOS = Path(__file__).resolve().parents[2] / "fixtures" / "chaos"
WDK = str(Path(sys.executable).with_name("wdk"))
RUNS = 500
WORKERS = 4
KILL_EVERY_S = 3.0


@pytest.fixture
async def pg_world() -> AsyncIterator[PostgresWorld]:
    require_postgres()
    world = PostgresWorld(PG_URL, schema=fresh_schema())
    await world.setup()
    try:
        yield world
    finally:
        await world.drop_schema()
        await world.close()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp_path / "cache"),
        WDK_RETRY_BASE="0.05",
        WDK_LOG_LEVEL="WARNING",
        CHAOS_GATE=str(tmp_path / "gate"),
    )
    return env


def _worker(
    world: PostgresWorld,
    env: dict[str, str],
    concurrency: int = 4,
    *,
    stderr: int = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            WDK,
            "worker",
            "--world",
            f"{PG_URL}?schema={world.schema}",
            "--root",
            str(CHAOS),
            "--lease",
            "2",
            "-c",
            str(concurrency),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def _wait_for_line(proc: subprocess.Popen[bytes], needle: bytes) -> threading.Thread:
    """Block until ``proc`` writes a stderr line containing ``needle``.

    Returns the thread that drains (then closes) the rest of its stderr, so a chatty worker
    never blocks on a full pipe; join it once the process has exited.
    """
    stream = proc.stderr
    assert stream is not None
    for line in stream:
        if needle in line:

            def drain() -> None:
                with stream:
                    stream.read()

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            return drainer
    stream.close()
    raise AssertionError(f"worker exited without printing {needle!r}")


def _reap(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _completions(events: list[Any]) -> collections.Counter[str | None]:
    return collections.Counter(e.correlation_id for e in events if e.type == "step_completed")


@pytest.mark.timeout(180)
async def test_chaos_sigkill_workers(pg_world: PostgresWorld, tmp_path: Path) -> None:
    env = _env(tmp_path)
    procs = [_worker(pg_world, env) for _ in range(WORKERS)]
    rng = random.Random(8)
    kills = 0
    first_kill = anyio.Event()
    all_done = anyio.Event()

    async def completed_count() -> int:
        page = await pg_world.list_runs(status="completed", limit=RUNS)
        return len(page.runs)

    async def chaos() -> None:
        nonlocal kills
        # First kill once some runs are through (so it lands mid-traffic), then every few s.
        while await completed_count() < RUNS // 20:
            await pg_world.wait_for_change(["queue"], 1.0)
        while not all_done.is_set():
            i = rng.randrange(len(procs))
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
            procs[i] = _worker(pg_world, env)
            kills += 1
            first_kill.set()
            with anyio.move_on_after(KILL_EVERY_S):
                await all_done.wait()

    t0 = time.perf_counter()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(chaos)
            runs = [
                await start("workflow//chaosflows.py//ten_steps", [i], world=pg_world)
                for i in range(RUNS)
            ]
            await first_kill.wait()
            results = [await run.return_value(timeout=170) for run in runs]
            all_done.set()
        elapsed = time.perf_counter() - t0
    finally:
        _reap(procs)
    print(f"\nchaos: {RUNS} runs x 10 steps, {WORKERS} workers, {kills} SIGKILLs: {elapsed:.1f}s")
    assert results == [i + 45 for i in range(RUNS)]
    assert kills >= 1
    sleeps = 0
    for run in runs:
        events = await pg_world.read_events(run.run_id)
        done = _completions(events)
        assert len(done) == 10 and max(done.values()) == 1, (run.run_id, done)
        sleeps += sum(e.type == "wait_completed" for e in events)
    assert sleeps > 0


async def test_sigterm_drains_in_flight_step(pg_world: PostgresWorld, tmp_path: Path) -> None:
    env = _env(tmp_path)
    run = await start("workflow//chaosflows.py//drain", [], world=pg_world)
    # INFO, so the worker says when it has taken SIGTERM ("draining").
    first = _worker(
        pg_world, {**env, "WDK_LOG_LEVEL": "INFO"}, concurrency=2, stderr=subprocess.PIPE
    )
    second = None
    try:
        readable = run.get_readable()
        assert await readable.__anext__() == "gated started"  # the step is mid-flight

        # `wdk inspect workers` shows the worker holding the step's lease.
        shown = subprocess.run(
            [WDK, "inspect", "workers", "--world", f"{PG_URL}?schema={pg_world.schema}", "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        rows = json.loads(shown.stdout)
        held = [m for r in rows for m in r["held"] if m["run_id"] == run.run_id]
        assert [m["kind"] for m in held] == ["step"] and rows[0]["messages"] >= 1

        first.send_signal(signal.SIGTERM)
        # Open the gate only once the worker has taken the signal: a step that finished
        # before the worker knew it was stopping could legitimately start the next one.
        drainer = await anyio.to_thread.run_sync(_wait_for_line, first, b"draining")
        (tmp_path / "gate").touch()
        assert await anyio.to_thread.run_sync(first.wait, 30) == 0
        await anyio.to_thread.run_sync(drainer.join)
        events = await pg_world.read_events(run.run_id)
        completed = [e for e in events if e.type == "step_completed"]
        assert len(completed) == 1  # the in-flight step finished and was recorded
        assert (await pg_world.get_run(run.run_id)).status == "running"

        second = _worker(pg_world, env, concurrency=2)
        assert await run.return_value(timeout=60) == ["gated", "after"]
    finally:
        _reap([p for p in (first, second) if p is not None])
    assert max(_completions(await pg_world.read_events(run.run_id)).values()) == 1
