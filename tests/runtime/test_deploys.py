"""Runs survive deploys: patched(), missing code, fork, replay and export, deployments.

Every test runs on every world; a "deploy" rewrites the module between two workers.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from harness import running

from wdk import serde
from wdk.api import get_run, resume_hook
from wdk.errors import PatchError, RunStateError, WorkflowRunFailedError
from wdk.runtime import Project
from wdk.runtime._deploys import (
    export_history,
    fork_run,
    load_history,
    replay_history,
    replay_runs,
)

pytestmark = pytest.mark.anyio

STEPS = """

def first() -> int:
    "use step"
    _mark("first")
    return 1


def extra() -> int:
    "use step"
    _mark("extra")
    return 10


def second() -> int:
    "use step"
    _mark("second")
    return 2


def _mark(name):
    with open(__file__ + ".effects", "a") as f:
        f.write(name + "\\n")
"""

OLD = (
    """
import wdk


async def flow(token: str) -> list:
    "use workflow"
    a = await first()
    await wdk.create_hook(token=token)
    return [a, await second()]
"""
    + STEPS
)

UNPATCHED = (
    """
import wdk


async def flow(token: str) -> list:
    "use workflow"
    a = await first()
    b = await extra()
    await wdk.create_hook(token=token)
    return [a, b, await second()]
"""
    + STEPS
)

PATCHED = (
    """
import wdk


async def flow(token: str) -> list:
    "use workflow"
    a = await first()
    out = [a]
    if wdk.patched("add-extra"):
        out.append(await extra())
    await wdk.create_hook(token=token)
    return [*out, await second()]
"""
    + STEPS
)


class Module:
    def __init__(self, tmp_path: Path, prefix: str) -> None:
        self.name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.root = tmp_path
        self.path = tmp_path / f"{self.name}.py"
        self.relpath = f"{self.name}.py"

    def write(self, source: str) -> None:
        """A deploy: new source; step code is imported afresh, as a new process would."""
        self.path.write_text(source)
        sys.modules.pop(self.name, None)

    def effects(self) -> list[str]:
        marks = Path(str(self.path) + ".effects")
        return marks.read_text().split() if marks.exists() else []

    def running(self, world, **kw):
        return running(world, root=self.root, relpath=self.relpath, **kw)


async def wait_for(world, run, predicate) -> None:
    while not predicate(await run.info(), [e.type for e in await run.events()]):
        await world.wait_for_change([f"run:{run.run_id}"], 5)


async def parked_at_hook(world, mod: Module, token: str):
    """A run of OLD started and waiting at its hook (its first step done)."""
    mod.write(OLD)
    async with mod.running(world) as h:
        run = await h.start("flow", token)
        await wait_for(world, run, lambda _i, types: "hook_created" in types)
    return run


async def test_patched_keeps_old_runs_on_the_old_path_and_new_runs_take_the_new(world, tmp_path):
    mod = Module(tmp_path, "patch")
    old_token, new_token = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    old = await parked_at_hook(world, mod, old_token)

    mod.write(PATCHED)
    async with mod.running(world) as h:
        new = await h.start("flow", new_token)
        await wait_for(world, new, lambda _i, types: "hook_created" in types)
        await resume_hook(old_token, "go", world=world)
        await resume_hook(new_token, "go", world=world)
        assert await old.return_value(timeout=60) == [1, 2]
        assert await new.return_value(timeout=60) == [1, 10, 2]
        await h.check_replay(old)
        await h.check_replay(new)
    assert sorted(mod.effects()) == ["extra", "first", "first", "second", "second"]
    new_types = [e.type for e in await new.events()]
    assert new_types.count("patched") == 1  # recorded: the answer never changes
    assert "patched" not in [e.type for e in await old.events()]


async def test_replay_gate_names_the_unpatched_change_and_passes_the_patched(world, tmp_path):
    mod = Module(tmp_path, "gate")
    run = await parked_at_hook(world, mod, f"tok-{uuid.uuid4().hex}")
    before = [e.seq for e in await run.events()]

    mod.write(UNPATCHED)
    [result] = await replay_runs(world, Project([tmp_path]), run_id=run.run_id)
    assert not result.ok and result.run_id == run.run_id
    assert result.code == "REPLAY_DIVERGENCE"
    assert result.location == f"{mod.relpath}:8"  # b = await extra()
    assert result.event is not None and "patched" in result.suggestion

    mod.write(PATCHED)
    results = await replay_runs(world, Project([tmp_path]))
    assert [r.ok for r in results if r.run_id == run.run_id] == [True]
    assert mod.effects() == ["first"]  # replay ran no step
    assert [e.seq for e in await run.events()] == before  # and wrote nothing


async def test_an_exported_history_replays_from_its_file(world, tmp_path):
    mod = Module(tmp_path, "hist")
    run = await parked_at_hook(world, mod, f"tok-{uuid.uuid4().hex}")
    history = await export_history(world, run.run_id)
    assert history["format"] == "wdk-history/1" and history["status"] == "running"
    path = tmp_path / "run.json"
    import json

    path.write_text(json.dumps(history))
    loaded = load_history(path)
    assert replay_history(loaded, Project([tmp_path])).ok
    mod.write(UNPATCHED)
    diverged = replay_history(loaded, Project([tmp_path]))
    assert not diverged.ok and diverged.location.endswith(":8")
    with pytest.raises(ValueError, match="not a wdk history"):
        load_history({"format": "other"})


MISSING_STEP = """
async def flow() -> int:
    "use workflow"
    return await helper()
"""

HAS_STEP = (
    MISSING_STEP
    + """

def helper() -> int:
    "use step"
    return 5
"""
)


async def test_missing_workflow_blocks_and_a_worker_with_it_finishes(world, tmp_path):
    mod = Module(tmp_path, "later")
    mod.write('async def other() -> int:\n    "use workflow"\n    return 0\n')
    async with mod.running(world) as h:
        run = await h.start("flow")  # by id: this code has no such workflow yet
        await wait_for(world, run, lambda info, _t: info.status == "blocked")
    block = serde.decode((await run.info()).error)
    assert block["code"] == "WORKFLOW_NOT_REGISTERED" and "flow" in block["message"]
    mod.write('async def flow() -> int:\n    "use workflow"\n    return 7\n')
    async with mod.running(world):
        assert await run.return_value(timeout=60) == 7


async def test_missing_step_blocks_and_a_worker_with_it_finishes(world, tmp_path):
    mod = Module(tmp_path, "nostep")
    mod.write(HAS_STEP)
    step_id = f"step//{mod.relpath}//helper"
    assert Project([tmp_path]).has_step(step_id)
    # The log of a run whose first step was created by code that has it and not run yet
    # (its worker died): the step's message waits in the queue.
    run_id = f"wrun_missing_{uuid.uuid4().hex[:8]}"
    await world.setup()
    events, messages = _created_with_step(run_id, f"workflow//{mod.relpath}//flow", step_id)
    await world.append(run_id, events, enqueue=messages)
    # A worker whose copy of the module lacks the step (the step moved in a deploy).
    other = tmp_path / "old"
    other.mkdir()
    (other / mod.relpath).write_text(MISSING_STEP)
    run = get_run(run_id, world=world)
    async with running(world, root=other, relpath=mod.relpath):
        await wait_for(world, run, lambda info, _t: info.status == "blocked")
    block = serde.decode((await run.info()).error)
    assert block["code"] == "STEP_NOT_REGISTERED" and step_id in block["message"]
    types = [e.type for e in await run.events()]
    assert "step_failed" not in types and "step_retrying" not in types
    async with mod.running(world):  # retried on start: the step is queued again
        assert await run.return_value(timeout=60) == 5


def _created_with_step(run_id: str, workflow_id: str, step_id: str):
    import msgpack

    from wdk.runtime._instance import make_cid
    from wdk.worlds.base import EventType, NewEvent, NewMessage

    seed = b"s" * 16
    created = msgpack.packb(
        {"workflow_id": workflow_id, "input": serde.encode(()), "seed": seed}, use_bin_type=True
    )
    cid = make_cid("step", seed, 1)
    data = msgpack.packb(
        {"step": step_id, "pos": 1, "args": serde.encode(()), "kwargs": None, "closure": None},
        use_bin_type=True,
    )
    events = [
        NewEvent(EventType.RUN_CREATED, None, created, "run:created"),
        NewEvent(EventType.RUN_STARTED, None, serde.encode({"at": 1.0}), "run:started"),
        NewEvent(EventType.STEP_CREATED, cid, data, f"{cid}:c"),
    ]
    return events, [NewMessage("step", run_id, f"step:{run_id}:{cid}", data)]


FATAL = """
from wdk import FatalError


async def flow() -> int:
    "use workflow"
    a = await one()
    b = await two()
    return a + b


def one() -> int:
    "use step"
    _mark("one")
    return 1


def two() -> int:
    "use step"
    _mark("two")
    {two}


def _mark(name):
    with open(__file__ + ".effects", "a") as f:
        f.write(name + "\\n")
"""


async def test_fork_after_a_fatal_error_and_a_fix_reuses_the_steps_before_it(world, tmp_path):
    mod = Module(tmp_path, "fork")
    mod.write(FATAL.format(two='raise FatalError("bug")'))
    async with mod.running(world) as h:
        run = await h.start("flow")
        with pytest.raises(WorkflowRunFailedError):
            await run.return_value(timeout=60)
    mod.write(FATAL.format(two="return 41"))
    with pytest.raises(RunStateError, match="out of range"):
        await fork_run(world, run.run_id, from_step=2)
    forked_id = await fork_run(world, run.run_id)
    async with mod.running(world) as h:
        forked = get_run(forked_id, world=world)
        assert await forked.return_value(timeout=60) == 42
        await h.check_replay(forked)
    info = await forked.info()
    assert info.forked_from == run.run_id
    assert mod.effects() == ["one", "two", "two"]  # step one ran once, across both runs


async def test_fork_from_step_zero_runs_everything_again(world, tmp_path):
    mod = Module(tmp_path, "fork0")
    mod.write(FATAL.format(two="return 2"))
    async with mod.running(world) as h:
        run = await h.start("flow")
        assert await run.return_value(timeout=60) == 3
        forked = get_run(await fork_run(world, run.run_id, from_step=0), world=world)
        assert await forked.return_value(timeout=60) == 3
    assert mod.effects() == ["one", "two", "one", "two"]


async def test_pinned_workers_leave_other_deployments_alone_and_adopt_moves_them(
    world, tmp_path, monkeypatch
):
    mod = Module(tmp_path, "pin")
    mod.write('async def flow() -> int:\n    "use workflow"\n    return 1\n')
    monkeypatch.setenv("WDK_DEPLOYMENT_ID", "v1")
    from wdk.api import start

    run = await start(f"workflow//{mod.relpath}//flow", [], world=world)
    assert (await run.info()).deployment_id == "v1"
    monkeypatch.setenv("WDK_DEPLOYMENT_ID", "v2")
    async with mod.running(world) as h:
        assert h.worker.deployment_id == "v2"
        done = await h.start("flow")  # a v2 run: this worker's own
        assert await done.return_value(timeout=60) == 1
        assert (await run.info()).status == "pending"  # the v1 run is left alone
    monkeypatch.setenv("WDK_DEPLOYMENT_ID", "v1")
    async with mod.running(world):
        assert await run.return_value(timeout=60) == 1  # a v1 worker finishes it

    monkeypatch.setenv("WDK_DEPLOYMENT_ID", "v1")
    moved = await start(f"workflow//{mod.relpath}//flow", [], world=world)
    monkeypatch.setenv("WDK_DEPLOYMENT_ID", "v2")
    async with mod.running(world) as h:
        h.worker.adopt, h.worker._claims_for = True, None
        assert await moved.return_value(timeout=60) == 1
    info = await moved.info()
    assert info.deployment_id == "v2"
    assert "run_adopted" in [e.type for e in await moved.events()]


async def test_runs_record_their_code_version_by_default(world, tmp_path, monkeypatch):
    monkeypatch.delenv("WDK_DEPLOYMENT_ID", raising=False)
    mod = Module(tmp_path, "ver")
    mod.write('async def flow() -> int:\n    "use workflow"\n    return 1\n')
    async with mod.running(world) as h:
        run = await h.start("flow")
        await run.return_value(timeout=60)
    deployment = (await run.info()).deployment_id
    assert deployment is not None and deployment.startswith("code-")
    mod.write('async def flow() -> int:\n    "use workflow"\n    return 2\n')
    async with mod.running(world) as h:
        other = await h.start("flow")
        await other.return_value(timeout=60)
    assert (await other.info()).deployment_id not in (None, deployment)


DEPRECATED = (
    """
import wdk


async def flow(token: str) -> list:
    "use workflow"
    a = await first()
    wdk.deprecate_patch("add-extra")
    b = await extra()
    await wdk.create_hook(token=token)
    return [a, b, await second()]
"""
    + STEPS
)


async def test_deprecate_patch_blocks_a_run_that_still_needs_the_old_path(world, tmp_path):
    mod = Module(tmp_path, "deprecate")
    token = f"tok-{uuid.uuid4().hex}"
    run = await parked_at_hook(world, mod, token)
    mod.write(DEPRECATED)
    [result] = await replay_runs(world, Project([tmp_path]), run_id=run.run_id)
    assert not result.ok and "deprecate_patch('add-extra')" in result.message
    assert result.location == f"{mod.relpath}:8"
    async with mod.running(world):
        await resume_hook(token, "go", world=world)
        await wait_for(world, run, lambda info, _t: info.status == "blocked")


BAD_PATCH = """
import wdk


async def flow() -> bool:
    "use workflow"
    return await check()


async def check() -> bool:
    "use step"
    return wdk.patched("x")
"""

TWO_ANSWERS = (
    """
import wdk


async def flow(token: str) -> list:
    "use workflow"
    a = await first()
    if wdk.patched("p"):
        a += 100
    await wdk.create_hook(token=token)
    if wdk.patched("p"):
        a += 100
    return [a, await second()]
"""
    + STEPS
)


async def test_patched_misuse_is_a_clear_error(world, tmp_path):
    import wdk

    with pytest.raises(PatchError, match="workflow code"):
        wdk.patched("x")
    mod = Module(tmp_path, "misuse")
    mod.write(BAD_PATCH)  # the compiler refuses it: the run waits for code that compiles
    async with mod.running(world) as h:
        run = await h.start("flow")
        await wait_for(world, run, lambda info, _t: info.status == "blocked")
    block = serde.decode((await run.info()).error)
    assert "WDK008" in block["message"] and "patched() is called inside step" in block["message"]


async def test_one_patch_answered_both_ways_in_a_run_fails_it(world, tmp_path):
    mod = Module(tmp_path, "twice")
    token = f"tok-{uuid.uuid4().hex}"
    run = await parked_at_hook(world, mod, token)
    mod.write(TWO_ANSWERS)
    async with mod.running(world):
        await resume_hook(token, "go", world=world)
        with pytest.raises(WorkflowRunFailedError, match="answered False earlier"):
            await run.return_value(timeout=60)
