"""Schedules: how soon after its fire time a tick's run exists, with 1 and 2 workers.

Real ``wdk worker --import`` processes on one SQLite file tick a 1 s schedule
(``catchup="all"``, ``overlap="allow"``) for ``seconds``; each run's id names its fire time,
so ``created_at - fire time`` is the ticker's lateness (its sleep until the fire time, the
pass, the durable commit of ``run_created``). Also counted: ticks without a run (must be 0;
a tick cannot have two runs, its id names it).

Run: ``.venv/bin/python bench/bench_schedules.py [seconds]``; writes its section of
docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

WDK = str(Path(sys.executable).with_name("wdk"))

MODULE = """from wdk import schedule


async def tick() -> str:
    "use workflow"
    return await stamp()


async def stamp() -> str:
    "use step"
    return "ok"


schedule("ticker", every="1s", workflow=tick, catchup="all", overlap="allow")
"""


def measure(workers: int, seconds: float) -> dict[str, float]:
    """Run ``workers`` workers for ``seconds``; lateness and counts of the ticks in between."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "jobs.py").write_text(MODULE)
        db = root / "w.db"
        env = dict(os.environ, WDK_CACHE_DIR=str(root / "cache"), WDK_LOG_LEVEL="WARNING")
        argv = [WDK, "worker", "--root", str(root), "--world", str(db), "--import", "jobs"]
        procs = [subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL) for _ in range(workers)]
        time.sleep(seconds)  # the clock is what is measured against
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT run_id, created_at FROM runs WHERE run_id LIKE 'sched-ticker-%'"
            ).fetchall()
    late = []
    fires = []
    for run_id, created in rows:
        stamp = run_id.rsplit("-", 1)[-1]
        fire = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
        fires.append(fire)
        late.append((created - fire) * 1000)
    late.sort()
    span = int(max(fires) - min(fires)) + 1 if fires else 0
    return {
        "runs": len(rows),
        "gaps": span - len(set(fires)),
        "median": statistics.median(late),
        "p90": late[int(len(late) * 0.9)],
        "max": late[-1],
    }


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    lines = [
        "## Schedules: tick lateness",
        "",
        f'{machine()}; SQLite (`synchronous=FULL`); `every="1s"` for {seconds:.0f} s of real',
        "`wdk worker --import` processes. Lateness is a run's `created_at` minus its fire time.",
        "",
        "| workers | runs | ticks without a run | lateness median | p90 | max |",
        "|---|---|---|---|---|---|",
    ]
    for workers in (1, 2):
        m = measure(workers, seconds)
        lines.append(
            f"| {workers} | {m['runs']:.0f} | {m['gaps']:.0f} | {m['median']:.1f} ms"
            f" | {m['p90']:.1f} ms | {m['max']:.1f} ms |"
        )
        print(lines[-1])
    lines += [
        "",
        "A tick cannot have two runs (the run id names the tick). The ticker sleeps until the",
        "fire time on the world's change notification with a timeout, so the lateness is the",
        "timer's wake-up, one read of the schedule and one durable commit of the run.",
    ]
    write_section("schedules", "\n".join(lines))


if __name__ == "__main__":
    main()
