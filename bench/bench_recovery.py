"""Crash recovery benchmark: seconds from a worker's SIGKILL to its step running elsewhere.

A run of ``fixtures/crash/crashy.py:mid_step`` is taken to the middle of its second step by a
``wdk worker`` subprocess (default 30 s lease), which is then SIGKILLed. Measured: from the
kill to the ``step_started`` of the step's next attempt (its ``at``, written by the worker that
took it over). Cases:

* *restarted*: a new ``wdk worker`` is started right after the kill (its process start and
  imports included);
* *running peer*: a second worker was running all along and notices on its own;
* *by pid*: the dead worker's registration says this machine, so its pid decides at once;
* *by heartbeat*: the registration is rewritten, after the kill, to say another machine, so
  the others wait for ``dead_after_s`` (3 s) without a heartbeat.

Without heartbeats (wdk before this section existed) the step waited for the lease: up to 30 s.

Run: ``.venv/bin/python bench/bench_recovery.py [samples]``; writes its section of
docs/benchmarks.md. PostgreSQL from ``WDK_BENCH_POSTGRES_URL`` (default the test server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk import serde  # noqa: E402
from wdk.api import get_run, start  # noqa: E402
from wdk.worlds import open_world  # noqa: E402
from wdk.worlds.base import WorkerInfo  # noqa: E402

CRASH = Path(__file__).resolve().parents[1] / "fixtures" / "crash"
WDK = str(Path(sys.executable).with_name("wdk"))
PG = os.environ.get("WDK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _worker(url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [WDK, "worker", "--world", url, "--root", str(CRASH)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _end(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def one(url: str, tmp: Path, *, peer: bool, far: bool) -> float:
    """Seconds from the kill to the step's next attempt starting."""
    env = dict(
        os.environ,
        CRASH_LOG=str(tmp / "log.txt"),
        CRASH_GATE=str(tmp / "gate"),
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp / "cache"),
    )
    world: Any = open_world(url)
    await world.setup()
    procs = [_worker(url, env) for _ in range(2 if peer else 1)]
    try:
        run = await start("workflow//crashy.py//mid_step", [], world=world)
        readable = get_run(run.run_id, world=world).get_readable()
        assert await readable.__anext__() == "block started"
        (held,) = [m for m in await world.list_leases() if m.kind == "step"]
        (dead,) = [w for w in await world.list_workers() if w.worker_id == held.owner]
        victim = next(p for p in procs if p.pid == dead.pid)
        killed = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if far:
            await world.heartbeat(WorkerInfo(dead.worker_id, "elsewhere", 1, "linux:other:/1"))
        (tmp / "gate").touch()
        if not peer:
            procs.append(_worker(url, env))
        cid = held.key.rsplit(":", 1)[-1]
        while True:
            started = [
                serde.decode(e.data)
                for e in await world.read_events(run.run_id)
                if e.type == "step_started" and e.correlation_id == cid
            ]
            if len(started) > 1:
                return float(started[1]["at"]) - killed
            await world.wait_for_change([f"run:{run.run_id}"], 0.05)
    finally:
        for proc in procs:
            _end(proc)
        if url.startswith("postgresql"):
            await world.drop_schema()
        await world.close()


async def case(backend: str, *, peer: bool, far: bool, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            if backend == "SQLite":
                url = f"sqlite:///{tmp / 'wdk.db'}"
            else:
                url = f"{PG}?schema=bench_recovery_{uuid.uuid4().hex[:8]}"
            times.append(await one(url, tmp, peer=peer, far=far))
    return times


async def main(samples: int) -> str:
    rows = []
    for backend, peer, far in [
        ("SQLite", False, False),
        ("SQLite", True, False),
        ("PostgreSQL", False, False),
        ("PostgreSQL", True, False),
        ("PostgreSQL", False, True),
        ("PostgreSQL", True, True),
    ]:
        times = await case(backend, peer=peer, far=far, samples=samples)
        who = "running peer" if peer else "restarted worker"
        how = "heartbeat (other machine)" if far else "pid (same machine)"
        rows.append(
            f"| {backend} | {who} | {how} | {statistics.median(times):.2f} | {max(times):.2f} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(
        [
            "## Crash recovery: SIGKILL to the step running elsewhere",
            "",
            f"{machine()}. `bench/bench_recovery.py`, {samples} kills per row; seconds from",
            "the SIGKILL of the worker holding a step mid-flight (30 s lease) to the",
            "`step_started` of its next attempt on another worker. A restarted worker's",
            "time includes starting its process (Python, imports, the compile cache).",
            "Target: under 5 s. Without heartbeats the step waited for the lease (30 s).",
            "",
            "| world | taken over by | gone worker found by | median s | max s |",
            "|---|---|---|---:|---:|",
            *rows,
        ]
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    markdown = asyncio.run(main(count))
    print(markdown)
    write_section("recovery", markdown)
