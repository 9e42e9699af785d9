"""An in-process worker on a real world, for runtime tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from wdk import serde
from wdk.api import Run, set_world, start
from wdk.runtime import Project, RetryPolicy, Worker, replay, set_default_project
from wdk.worlds.base import World

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "runtime"


class Harness:
    def __init__(self, world: World, worker: Worker, relpath: str) -> None:
        self.world = world
        self.worker = worker
        self.relpath = relpath

    async def start(self, name: str, *args: Any, run_id: str | None = None) -> Run:
        return await start(
            f"workflow//{self.relpath}//{name}", list(args), world=self.world, run_id=run_id
        )

    async def result(self, name: str, *args: Any) -> Any:
        """Run to the end; also check that replaying the log alone gives the same outcome."""
        run = await self.start(name, *args)
        value = await run.return_value(timeout=60)
        await self.check_replay(run)
        return value

    async def check_replay(self, run: Run) -> None:
        info = await run.info()
        outcome = await replay(self.world, run.run_id, self.worker.project)
        assert outcome is not None, "replaying the log did not reach the run's end"
        recorded = info.output if info.status == "completed" else info.error
        assert outcome.status == info.status
        assert serde.decode(outcome.data) == serde.decode(recorded or b"")


@contextlib.asynccontextmanager
async def running(
    world: World,
    *,
    root: Path = FIXTURES,
    relpath: str = "flows.py",
    concurrency: int = 4,
    step_threads: int = 32,
    **worker_options: Any,
) -> AsyncIterator[Harness]:
    project = Project([root])
    set_default_project(project)
    set_world(world)
    await world.setup()
    worker = Worker(
        world,
        project,
        retry_policy=RetryPolicy(base=0.01),
        concurrency=concurrency,
        step_threads=step_threads,
        idle_poll_s=1.0,
        **worker_options,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        try:
            yield Harness(world, worker, relpath)
        finally:
            worker.stop()
