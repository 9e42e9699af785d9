"""Runtime benchmark: wdk against DBOS on the same shapes, both on SQLite, in one process run.

Shapes (the "Speed" section of the runtime issue):

* (a) one workflow of 100 trivial sequential steps: cost per step;
* (b) 200 workflows of 5 steps, each started and awaited in turn: workflows/s;
* (c) 200 workflows of 5 steps, all started, then all awaited: workflows/s;
* (d) one workflow of 10, 100 and 1000 steps: total time, to show growth with length.

wdk: a ``SqliteWorld`` (``synchronous=FULL``, the default) and an in-process ``Worker``, as
``tests/runtime/harness.py`` runs them. DBOS: its default SQLite system database,
``@DBOS.workflow()`` / ``@DBOS.step()``, ``DBOS.start_workflow``. Each system is measured in
blocks of its own (set up, warmed up, every shape, torn down): wdk, DBOS, DBOS, wdk, so a
host whose speed drifts during the run favours neither; within a block cheap shapes are
repeated and the median taken, and the two blocks of a system are averaged. The floor, one
bare ``synchronous=FULL`` WAL commit of a small row, is measured in the same run and wdk's
per-step time is reported as a multiple of it.

Run: ``.venv/bin/python bench/bench_runtime.py [--quick]``; writes its section of
docs/benchmarks.md (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _floor import bare_commit_ms  # noqa: E402
from _report import machine, write_section  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHAIN = "workflow//benchflows.py//chain"
N_WORKFLOWS = 200


# -- shapes, written once for both systems -------------------------------------------------------
class Shapes:
    """What one system must provide: run one chain, start one, await one (coroutines)."""

    def __init__(
        self,
        run_one: Callable[[int], Awaitable[Any]],
        start: Callable[[int], Awaitable[Any]],
        wait: Callable[[Any], Awaitable[Any]],
    ) -> None:
        self.run_one, self.start, self.wait = run_one, start, wait


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


def plan(shapes: Shapes, reps: int, lengths: tuple[int, ...]) -> list[tuple[str, Any, int]]:
    """(key, what to time, repetitions) for every shape of one system."""

    async def in_turn() -> None:
        for _ in range(N_WORKFLOWS):
            await shapes.wait(await shapes.start(5))

    async def all_then_await() -> None:
        handles = [await shapes.start(5) for _ in range(N_WORKFLOWS)]
        for h in handles:
            await shapes.wait(h)

    steps: list[tuple[str, Any, int]] = [
        ("a", lambda: shapes.run_one(100), reps),
        ("b", in_turn, max(1, reps // 2)),
        ("c", all_then_await, max(1, reps // 2)),
    ]
    for n in lengths:
        steps.append((f"d{n}", lambda n=n: shapes.run_one(n), reps if n < 1000 else 1))
    return steps


async def measure(shapes: Shapes, reps: int, lengths: tuple[int, ...]) -> dict[str, Any]:
    """Every shape on one system, after a warm-up; the median of each shape's samples."""
    for _ in range(3):  # warm up: code compiled, caches and connections hot
        await shapes.run_one(5)
    await shapes.run_one(100)
    median: dict[str, float] = {}
    for key, fn, n_reps in plan(shapes, reps, lengths):
        median[key] = statistics.median([await timed(fn) for _ in range(n_reps)])
    return {
        "a_total": median["a"],
        "a_step_ms": median["a"] / 100 * 1000,
        "b_wfs": N_WORKFLOWS / median["b"],
        "c_wfs": N_WORKFLOWS / median["c"],
        "d": {n: median[f"d{n}"] for n in lengths},
    }


# -- wdk -----------------------------------------------------------------------------------------
@asynccontextmanager
async def wdk_shapes(tmp: Path) -> AsyncIterator[Shapes]:
    from wdk.api import set_world, start
    from wdk.runtime import Project, Worker, set_default_project
    from wdk.worlds.sqlite import SqliteWorld

    project = Project([FIXTURES])
    set_default_project(project)
    world = SqliteWorld(tmp / "wdk.db")
    set_world(world)
    await world.setup()
    worker = Worker(world, project, idle_poll_s=1.0)

    async def start_chain(n: int) -> Any:
        return await start(CHAIN, [n], world=world)

    async def wait(run: Any) -> Any:
        return await run.return_value(timeout=600)

    async def run_one(n: int) -> Any:
        value = await wait(await start_chain(n))
        assert value == n * (n + 1) // 2, value
        return value

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            try:
                yield Shapes(run_one, start_chain, wait)
            finally:
                worker.stop()
    finally:
        set_world(None)
        await world.close()


# -- DBOS ----------------------------------------------------------------------------------------
@asynccontextmanager
async def dbos_shapes(tmp: Path) -> AsyncIterator[Shapes]:
    """The shapes on DBOS through its synchronous API (it runs workflows on its own threads;
    nothing else runs on this event loop meanwhile, so blocking it costs nothing)."""
    from dbos import DBOS

    DBOS(
        config={
            "name": "wdk-bench",
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
    try:

        async def start_chain(n: int) -> Any:
            return DBOS.start_workflow(chain, n)

        async def wait(handle: Any) -> Any:
            return handle.get_result()

        async def run_one(n: int) -> Any:
            value = await wait(await start_chain(n))
            assert value == n * (n + 1) // 2, value
            return value

        yield Shapes(run_one, start_chain, wait)
    finally:
        DBOS.destroy(destroy_registry=True)


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's blocks as one result: the mean of each figure over the blocks."""
    out = {k: statistics.fmean(r[k] for r in results) for k in ("a_total", "a_step_ms")}
    out["b_wfs"] = statistics.fmean(r["b_wfs"] for r in results)
    out["c_wfs"] = statistics.fmean(r["c_wfs"] for r in results)
    out["d"] = {n: statistics.fmean(r["d"][n] for r in results) for n in results[0]["d"]}
    return out


async def measure_system(
    tmp: Path, name: str, reps: int, lengths: tuple[int, ...]
) -> dict[str, Any]:
    """Set up one system (``wdk`` or ``dbos``) alone in ``tmp``, measure it, tear it down."""
    makers = {"wdk": wdk_shapes, "dbos": dbos_shapes}
    async with makers[name](tmp) as shapes:
        return await measure(shapes, reps, lengths)


# -- report --------------------------------------------------------------------------------------
def report(bare: float, wdk: dict[str, Any], dbos: dict[str, Any], reps: int) -> str:
    a_ratio = dbos["a_step_ms"] / wdk["a_step_ms"]
    b_ratio = wdk["b_wfs"] / dbos["b_wfs"]
    c_ratio = wdk["c_wfs"] / dbos["c_wfs"]
    growth = {name: r["d"][1000] / r["d"][100] for name, r in (("wdk", wdk), ("dbos", dbos))}

    def ok(cond: bool) -> str:
        return "**yes**" if cond else "**NO**"

    lengths = sorted(wdk["d"])
    d_rows = [
        f"| {n} steps | {wdk['d'][n] * 1000:.1f} ms | {dbos['d'][n] * 1000:.1f} ms |"
        for n in lengths
    ]
    return "\n".join(
        [
            "## Runtime: wdk vs DBOS on SQLite",
            "",
            f"`bench/bench_runtime.py`; {machine()}. wdk: `SqliteWorld` (`synchronous=FULL`)",
            "and one in-process `Worker`; DBOS: its default SQLite system database,",
            "`@DBOS.workflow` / `@DBOS.step`, `DBOS.start_workflow`. Trivial steps (`i + 1`).",
            "Measured in blocks wdk, DBOS, DBOS, wdk (the host's speed drifts), each block",
            "set up and warmed up alone; the two blocks of a system are averaged. In a block",
            f"(a) and (d) up to 100 steps are medians of {reps} runs, (b) and (c) of"
            f" {max(1, reps // 2)}, 1000 steps is one run.",
            "",
            f"Floor: one bare SQLite commit (WAL, `synchronous=FULL`, small insert) = "
            f"**{bare:.3f} ms** in this run.",
            "",
            "| shape | wdk | DBOS | wdk advantage | target | holds |",
            "|---|---:|---:|---:|---|---|",
            f"| (a) 100 sequential steps, per step | {wdk['a_step_ms']:.3f} ms"
            f" ({wdk['a_step_ms'] / bare:.1f}x bare commit) | {dbos['a_step_ms']:.3f} ms"
            f" | {a_ratio:.1f}x | >= 5x lower | {ok(a_ratio >= 5)} |",
            f"| (b) {N_WORKFLOWS} x 5-step workflows, each awaited in turn"
            f" | {wdk['b_wfs']:.0f} wf/s | {dbos['b_wfs']:.0f} wf/s | {b_ratio:.1f}x | >= 5x"
            f" | {ok(b_ratio >= 5)} |",
            f"| (c) {N_WORKFLOWS} x 5-step workflows, all started then awaited"
            f" | {wdk['c_wfs']:.0f} wf/s | {dbos['c_wfs']:.0f} wf/s | {c_ratio:.1f}x | >= 5x"
            f" | {ok(c_ratio >= 5)} |",
            f"| (d) growth, 1000 steps / 100 steps | {growth['wdk']:.1f}x | {growth['dbos']:.1f}x"
            f" | - | <= 12x (linear) | {ok(growth['wdk'] <= 12)} |",
            "",
            "(d) total time of one workflow by length:",
            "",
            "| length | wdk | DBOS |",
            "|---|---:|---:|",
            *d_rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; no doc update")
    parser.add_argument("--only", choices=("wdk", "dbos"), help="measure one system only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("dbos").setLevel(logging.WARNING)
    reps = 3 if args.quick else 5
    lengths = (10, 100, 1000)
    with tempfile.TemporaryDirectory(prefix="wdk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        bare = bare_commit_ms(tmp / "bare.db")
        names = [n for n in ("wdk", "dbos") if args.only in (None, n)]
        # Each system in its own block, set up and torn down alone (in one process they
        # slow each other down: DBOS keeps threads polling); ABBA order with --full runs so
        # a host whose speed drifts favours neither.
        order = names if args.quick else names + names[::-1]
        blocks: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for i, name in enumerate(order):
            where = tmp / f"{i}-{name}"
            where.mkdir()
            blocks[name].append(anyio.run(measure_system, where, name, reps, lengths))
        wdk = combine(blocks["wdk"]) if "wdk" in blocks else None
        dbos = combine(blocks["dbos"]) if "dbos" in blocks else None
    print(f"bare commit: {bare:.3f} ms")
    for name, r in (("wdk", wdk), ("dbos", dbos)):
        if r is not None:
            print(name, {k: v for k, v in r.items()})
    if wdk is None or dbos is None:
        return
    markdown = report(bare, wdk, dbos, reps)
    print(markdown)
    if not args.quick:
        write_section("runtime", markdown)


if __name__ == "__main__":
    main()
