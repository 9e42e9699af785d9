"""A spinning workflow beside other runs: what the activation budget and the loop slice give.

One ``SqliteWorld`` (``synchronous=FULL``) and one in-process ``Worker`` with a budget of
``BUDGET_S``. First, ``N`` short runs (two async steps each) are started and awaited one
after the other with nothing else going on; then a run whose code spins (``while True: pass``
after one step) is started, and once the worker has moved it off its event loop (after one
slice of ``Worker.loop_slice_s``) the same ``N`` short runs are timed again while it spins in
a step thread. Reported: the short runs' latency both ways, how long the spinning run held
the loop before it moved, that every short run finished before the spinner was stopped, and
when the spinner failed (its budget).

Run: ``.venv/bin/python bench/bench_limits.py``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BUDGET_S = 8.0
N = 100


async def measure(tmp: Path) -> dict[str, Any]:
    from wdk.api import set_world, start
    from wdk.runtime import Project, Worker, set_default_project
    from wdk.worlds.sqlite import SqliteWorld

    project = Project([FIXTURES])
    set_default_project(project)
    world = SqliteWorld(tmp / "wdk.db")
    set_world(world)
    await world.setup()
    worker = Worker(world, project, idle_poll_s=1.0, workflow_budget_s=BUDGET_S)

    async def short_runs() -> list[float]:
        times = []
        for i in range(N):
            t0 = time.perf_counter()
            run = await start("workflow//limitflows.py//short", [i], world=world)
            assert await run.return_value(timeout=60) == i + 2
            times.append(time.perf_counter() - t0)
        return times

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await short_runs()  # warm up
            idle = await short_runs()
            t0 = time.perf_counter()
            spinner = await start("workflow//limitflows.py//spin", [], world=world)
            while spinner.run_id not in worker._heavy_runs:
                await anyio.sleep(0.001)
            moved = time.perf_counter() - t0
            beside = await short_runs()
            still_running = await spinner.status() == "running"
            try:
                await spinner.return_value(timeout=60)
            except Exception as exc:  # noqa: BLE001 - the expected failure
                failed = (time.perf_counter() - t0, type(exc).__name__, str(exc)[:90])
            worker.stop()
    finally:
        set_world(None)
        await world.close()
    return {"idle": idle, "beside": beside, "moved": moved, "running": still_running,
            "failed": failed}  # fmt: skip


def _ms(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1e3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        r = anyio.run(measure, Path(tmp))
    idle, beside = r["idle"], r["beside"]
    failed_at, _, _ = r["failed"]
    intro = (
        f"`bench/bench_limits.py` on {machine()}. SQLite world (`synchronous=FULL`), one "
        f"in-process worker, `workflow_budget_s={BUDGET_S:g}`. {N} short runs (two async "
        "steps each) started and awaited one after another, first alone, then while another "
        "run's code spins (`while True: pass`) in a step thread."
    )
    outro = (
        f"The spinning run held the event loop for {r['moved'] * 1e3:.0f} ms (one slice, "
        "`Worker.loop_slice_s` = 0.1 s, plus up to one 20 ms watchdog tick) before it moved to "
        f"a thread; all {N} short runs completed while it spun (it was still `running` after "
        f"them: {'yes' if r['running'] else 'NO'}); it failed with `BudgetExceededError` "
        f"{failed_at:.1f} s after its start (budget {BUDGET_S:g} s). Beside it, the short runs "
        "share the GIL with the spinning thread (CPython switches every 5 ms)."
    )
    lines = [
        "## Limits: a spinning run beside others",
        "",
        textwrap.fill(intro, 96),
        "",
        "| short runs | median | p90 |",
        "|---|---:|---:|",
        f"| alone | {statistics.median(idle) * 1e3:.1f} ms | {_ms(idle, 0.9):.1f} ms |",
        f"| beside the spinning run | {statistics.median(beside) * 1e3:.1f} ms "
        f"| {_ms(beside, 0.9):.1f} ms |",
        "",
        textwrap.fill(outro, 96),
    ]
    text = "\n".join(lines)
    print(text)
    write_section("limits", text)


if __name__ == "__main__":
    main()
