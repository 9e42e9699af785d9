"""A run whose workflow source changed under it is blocked (never failed), naming the call.

Each test changes a module's source between two workers on the same world, as a deploy does.
Steps append to a side-effect file so "no step ran twice" is checked on disk.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from harness import running

from wdk import serde
from wdk.api import resume_hook
from wdk.errors import RunStateError
from wdk.runtime._deploys import retry_run

pytestmark = pytest.mark.anyio

SOURCE = """
from wdk import create_hook


async def flow(token: str) -> list:
    "use workflow"
    a = await {first}()
    await create_hook(token=token)
    return [a, await second()]


def first() -> int:
    "use step"
    _mark("first")
    return 1


def second() -> int:
    "use step"
    _mark("second")
    return 2


def third() -> int:
    "use step"
    _mark("third")
    return 3


def _mark(name):
    with open(__file__ + ".effects", "a") as f:
        f.write(name + "\\n")
"""


def effects(path: Path) -> list[str]:
    marks = Path(str(path) + ".effects")
    return marks.read_text().split() if marks.exists() else []


async def wait_for(world, run, predicate) -> None:
    while not predicate(await run.info(), [e.type for e in await run.events()]):
        await world.wait_for_change([f"run:{run.run_id}"], 5)


class Deploy:
    """A module rewritten between workers, as deploys do, and its runs' side effects."""

    def __init__(self, tmp_path: Path, prefix: str) -> None:
        self.module = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.root = tmp_path
        self.path = tmp_path / f"{self.module}.py"
        self.token = f"tok-{uuid.uuid4().hex}"

    def ship(self, first: str) -> None:
        self.path.write_text(SOURCE.format(first=first))

    def running(self, world):
        return running(world, root=self.root, relpath=f"{self.module}.py")

    async def parked(self, world):
        """A run of the original code, waiting at its hook after its first step."""
        self.ship("first")
        async with self.running(world) as h:
            run = await h.start("flow", self.token)
            await wait_for(world, run, lambda _i, types: "hook_created" in types)
        return run

    async def blocked(self, world):
        """That run, blocked by a deploy that changed its first call (still running there)."""
        run = await self.parked(world)
        self.ship("third")
        async with self.running(world):
            await resume_hook(self.token, "go", world=world)
            await wait_for(world, run, lambda info, _t: info.status == "blocked")
        return run


async def test_changed_source_blocks_the_run_and_a_rollback_finishes_it(world, tmp_path: Path):
    deploy = Deploy(tmp_path, "diverge")
    run = await deploy.blocked(world)  # the deploy changed the first call
    module, path = deploy.module, deploy.path
    info = await run.info()
    block = serde.decode(info.error)
    assert block["code"] == "REPLAY_DIVERGENCE"
    assert f"step//{module}.py//first" in block["message"]
    assert f"step//{module}.py//third" in block["message"]
    assert "#1" in block["message"]
    assert block["location"] == f"{module}.py:7"  # the line that now calls third()
    assert block["event"] is not None and block["event"] > 1
    assert "wdk.patched" in block["suggestion"]
    types = [e.type for e in await run.events()]
    assert "run_failed" not in types and "hook_received" in types  # nothing in the log lost

    deploy.ship("first")  # roll back
    async with deploy.running(world):  # retried on start
        assert await run.return_value(timeout=60) == [1, 2]
    assert effects(path) == ["first", "second"]  # no step ran twice


async def test_a_worker_on_the_same_code_leaves_a_blocked_run_alone(world, tmp_path: Path):
    deploy = Deploy(tmp_path, "same")
    run = await deploy.blocked(world)
    blocks = [e.type for e in await run.events()].count("run_blocked")
    # Another worker on the same (still diverging) code, woken for the run: no new block,
    # no retry, nothing written but the wake-up's own effects.
    async with deploy.running(world):
        await world.enqueue([_wake(run.run_id)])
        while await world.get_message(f"wf:{run.run_id}") is not None:
            await world.wait_for_change(["queue"], 0.5)
    assert (await run.info()).status == "blocked"
    assert [e.type for e in await run.events()].count("run_blocked") == blocks

    # wdk retry on the same code: tried once more, blocked once more, and no more than that.
    await retry_run(world, run.run_id)
    async with deploy.running(world):
        await wait_for(world, run, lambda info, _t: info.status == "blocked")
    types = [e.type for e in await run.events()]
    assert types.count("run_unblocked") == 1 and types.count("run_blocked") == blocks + 1
    assert effects(deploy.path) == ["first"]


async def test_retry_refuses_a_run_that_is_not_blocked(world, tmp_path: Path):
    module = f"done_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        'async def flow() -> int:\n    "use workflow"\n    return 1\n'
    )
    async with running(world, root=tmp_path, relpath=f"{module}.py") as h:
        run = await h.start("flow")
        assert await run.return_value(timeout=60) == 1
    with pytest.raises(RunStateError, match="completed, not blocked"):
        await retry_run(world, run.run_id)


def _wake(run_id: str):
    from wdk.worlds.base import NewMessage

    return NewMessage("workflow", run_id, f"wf:{run_id}")


async def test_a_running_worker_sweeps_up_runs_an_older_worker_parked(world, tmp_path: Path):
    import anyio

    from wdk.runtime import Project, Worker
    from wdk.worlds.base import EventType, NewEvent

    module = f"sweep_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        'async def flow() -> int:\n    "use workflow"\n    return 3\n'
    )
    await world.setup()
    worker = Worker(world, Project([tmp_path]), blocked_sweep_s=0.05, idle_poll_s=0.5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        while worker.blocked_sweeps < 1:  # its sweep on start is done
            await anyio.sleep(0.01)
        # An older worker (its code lacked the workflow) parked a run meanwhile: its log is
        # the run's creation and the block, and nothing is queued for it.
        import msgpack

        from wdk.api import get_run

        run = get_run(f"r-{module}", world=world)
        created = msgpack.packb(
            {"workflow_id": f"workflow//{module}.py//flow", "input": serde.encode(())},
            use_bin_type=True,
        )
        block = {"code": "WORKFLOW_NOT_REGISTERED", "message": "no such workflow",
                 "modules": {module: None}, "tried": [{module: None}]}  # fmt: skip
        await world.append(
            run.run_id,
            [
                NewEvent(EventType.RUN_CREATED, None, created, "run:created"),
                NewEvent(EventType.RUN_BLOCKED, None, serde.encode(block)),
            ],
        )
        assert (await run.status()) == "blocked"
        assert await run.return_value(timeout=60) == 3
        worker.stop()


async def test_code_that_blocked_a_run_once_does_not_retry_it_again(world, tmp_path: Path):
    deploy = Deploy(tmp_path, "pingpong")
    run = await deploy.parked(world)
    for blocks, first in enumerate(["third", "second"], 1):  # two deploys, each diverging
        deploy.ship(first)
        async with deploy.running(world):
            if blocks == 1:
                await resume_hook(deploy.token, "go", world=world)
            await wait_for(world, run, lambda _i, t, n=blocks: t.count("run_blocked") == n)
    # Back on the first diverging code: it is among the codes that tried, so it leaves it.
    deploy.ship("third")
    async with deploy.running(world) as h:
        while h.worker.blocked_sweeps < 1:
            await world.wait_for_change(["queue"], 0.05)
    types = [e.type for e in await run.events()]
    assert types.count("run_blocked") == 2 and types.count("run_unblocked") == 1
    block = serde.decode((await run.info()).error)
    assert len(block["tried"]) == 2


async def test_a_blocked_run_can_be_cancelled(world, tmp_path: Path):
    deploy = Deploy(tmp_path, "cancel")
    run = await deploy.blocked(world)
    async with deploy.running(world):
        await run.cancel()
        assert (await run.status()) == "cancelled"
    assert await world.list_hooks(run.run_id) == []
    with pytest.raises(RunStateError, match="cancelled, not blocked"):
        await retry_run(world, run.run_id)
