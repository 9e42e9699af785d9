"""Flow-control benchmark: what a queue costs per run, and draining 10,000 queued runs.

Shapes:

* **cost per run**: 200 workflows of 5 trivial steps, started and awaited in turn (b) and all
  started then all awaited (c), unqueued and on a queue: ``bench-open`` (no limit: the
  bookkeeping alone) and ``bench-drain`` (``concurrency=50``). Target: queued within 10% of
  unqueued.
* **drain**: 10,000 one-step workflows started on a queue of concurrency 50, then drained;
  runs/s from the first admission to the last completion (each system's own timestamps),
  against DBOS's queue with ``global_concurrency=50`` on the same machine, both on SQLite in
  this process.

wdk: a ``SqliteWorld`` (``synchronous=FULL``) and an in-process ``Worker``, as
bench/bench_runtime.py runs it. DBOS: its SQLite system database, ``@DBOS.workflow`` /
``@DBOS.step``, ``DBOS.register_queue`` + ``Queue.enqueue`` (polled every 0.1 s, as
bench/bench_pg_scale.py).

Run: ``.venv/bin/python bench/bench_queues.py [--quick]``; writes its section of
docs/benchmarks.md (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHAIN = "workflow//benchflows.py//chain"
N_WORKFLOWS = 200
DRAIN = 10_000


async def _wdk(tmp: Path, reps: int, drain: int) -> dict[str, Any]:
    from wdk.api import set_world, start
    from wdk.runtime import Project, Worker, set_default_project
    from wdk.worlds.sqlite import SqliteWorld

    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import benchflows  # noqa: F401 - declares the queues in this process

    project = Project([FIXTURES])
    set_default_project(project)
    world = SqliteWorld(tmp / "wdk.db")
    set_world(world)
    await world.setup()
    worker = Worker(world, project, idle_poll_s=1.0)
    out: dict[str, Any] = {}

    async def in_turn(queue: str | None) -> None:
        for _ in range(N_WORKFLOWS):
            await (await start(CHAIN, [5], world=world, queue=queue)).return_value(timeout=600)

    async def all_then_await(queue: str | None) -> None:
        runs = [await start(CHAIN, [5], world=world, queue=queue) for _ in range(N_WORKFLOWS)]
        for run in runs:
            await run.return_value(timeout=600)

    async def timed(fn: Any, queue: str | None) -> float:
        t0 = time.perf_counter()
        await fn(queue)
        return time.perf_counter() - t0

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        try:
            for _ in range(3):  # warm up
                await in_turn(None)
            # Interleaved, so a drifting host favours none of the three.
            samples: dict[str, list[float]] = {}
            for _ in range(reps):
                for queue in (None, "bench-open", "bench-drain"):
                    for name, fn in (("b", in_turn), ("c", all_then_await)):
                        key = f"{name}:{queue or 'none'}"
                        samples.setdefault(key, []).append(await timed(fn, queue))
            out["cost"] = {k: N_WORKFLOWS / statistics.median(v) for k, v in samples.items()}
            t0, wall0 = time.perf_counter(), time.time()
            runs = [await start(CHAIN, [1], world=world, queue="bench-drain") for _ in range(drain)]
            out["enqueue_s"] = time.perf_counter() - t0
            for run in runs:
                await run.return_value(timeout=3600)
            infos = [await run.info() for run in runs]
            first = min(i.started_at or i.created_at for i in infos)
            last = max(i.completed_at or 0.0 for i in infos)
            out["drain_rps"] = drain / (last - first)
            out["drain_s"] = last - first
            out["total_s"] = last - wall0
        finally:
            worker.stop()
    set_world(None)
    await world.close()
    return out


def _dbos(tmp: Path, drain: int) -> dict[str, Any]:
    from dbos import DBOS

    DBOS(
        config={
            "name": "wdk-bench-queues",
            "system_database_url": f"sqlite:///{tmp / 'dbos.sqlite'}",
            "log_level": "WARNING",
        }
    )

    @DBOS.step()
    def noop(i: int) -> int:
        return i + 1

    @DBOS.workflow()
    def chain(n: int) -> int:
        total = 0
        for i in range(n):
            total += noop(i)
        return total

    DBOS.launch()
    queue = DBOS.register_queue("bench-drain", global_concurrency=50, polling_interval_sec=0.1)
    try:
        for _ in range(3):
            queue.enqueue(chain, 1).get_result()
        t0, wall0 = time.perf_counter(), time.time()
        handles = [queue.enqueue(chain, 1) for _ in range(drain)]
        enqueue_s = time.perf_counter() - t0
        for handle in handles:
            handle.get_result()
        statuses = [h.get_status() for h in handles]
        first = min(s.dequeued_at or s.created_at or 0 for s in statuses) / 1000
        last = max(s.updated_at or 0 for s in statuses) / 1000
        return {
            "drain_rps": drain / (last - first),
            "drain_s": last - first,
            "enqueue_s": enqueue_s,
            "total_s": last - wall0,
        }
    finally:
        DBOS.destroy(destroy_registry=True)


def report(wdk: dict[str, Any], dbos: dict[str, Any] | None, drain: int, reps: int) -> str:
    cost = wdk["cost"]

    def row(shape: str, label: str) -> str:
        base = cost[f"{shape}:none"]
        cells = [f"{base:.0f}"]
        for queue in ("bench-open", "bench-drain"):
            value = cost[f"{shape}:{queue}"]
            cells.append(f"{value:.0f} ({(base / value - 1) * 100:+.0f}%)")
        worst = max(base / cost[f"{shape}:{q}"] - 1 for q in ("bench-open", "bench-drain"))
        return f"| {label} | {' | '.join(cells)} | {'yes' if worst <= 0.10 else 'no'} |"

    lines = [
        "## Flow control: the cost of a queue, and draining one",
        "",
        f"`bench/bench_queues.py`; {machine()}; SQLite (`synchronous=FULL`), one in-process",
        f"`Worker`; median of {reps} interleaved samples per shape.",
        "",
        "Workflows/s of 200 workflows x 5 trivial steps, unqueued and on a queue (in",
        "brackets: the time per run a queue adds). Target: within 10% of unqueued.",
        "",
        "| shape | unqueued | queue, no limit | queue, concurrency 50 | within 10% |",
        "|---|---:|---:|---:|---|",
        row("b", "(b) started and awaited in turn"),
        row("c", "(c) all started, then awaited"),
        "",
        f"Draining {drain:,} one-step workflows started on a queue of concurrency 50: runs/s",
        "from the first run leaving the queue (wdk `started_at`, DBOS `dequeued_at`) to the last",
        "one's end; the enqueue loop's time; and the total from the first enqueue to the last",
        "end. Both run queued work while the enqueue loop goes on: DBOS in its threads, wdk",
        "because a start admitted at once runs its first pass with the start and its steps on",
        "the worker's step threads.",
        "",
        "| system | drain runs/s | drain time | enqueue time | total |",
        "|---|---:|---:|---:|---:|",
        f"| wdk | {wdk['drain_rps']:.0f} | {wdk['drain_s']:.1f} s | {wdk['enqueue_s']:.1f} s"
        f" | {wdk['total_s']:.1f} s |",
    ]
    if dbos is not None:
        lines.append(
            f"| DBOS queue, `global_concurrency=50` | {dbos['drain_rps']:.0f}"
            f" | {dbos['drain_s']:.1f} s | {dbos['enqueue_s']:.1f} s | {dbos['total_s']:.1f} s |"
        )
        lines += [
            "",
            f"wdk / DBOS: drain rate {wdk['drain_rps'] / dbos['drain_rps']:.1f}x, total time"
            f" {dbos['total_s'] / wdk['total_s']:.1f}x shorter.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 1 sample; no doc")
    parser.add_argument("--only", choices=("wdk", "dbos"), help="measure one system only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    reps, drain = (1, 1000) if args.quick else (5, DRAIN)
    wdk = dbos = None
    with tempfile.TemporaryDirectory(prefix="wdk-bench-q-") as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "wdk"):
            (tmp / "wdk").mkdir()
            wdk = anyio.run(_wdk, tmp / "wdk", reps, drain)
            print("wdk", wdk)
        if args.only in (None, "dbos"):
            (tmp / "dbos").mkdir()
            dbos = _dbos(tmp / "dbos", drain)
            print("dbos", dbos)
    if wdk is None:
        return
    markdown = report(wdk, dbos, drain, reps)
    print(markdown)
    if not args.quick and dbos is not None:
        write_section("queues", markdown)


if __name__ == "__main__":
    main()
