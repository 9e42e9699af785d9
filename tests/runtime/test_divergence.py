"""A run whose workflow source changed under it fails with REPLAY_DIVERGENCE, naming the call."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from harness import running

from wdk.api import resume_hook
from wdk.errors import WorkflowRunFailedError

pytestmark = pytest.mark.anyio

SOURCE = """
from wdk import create_hook


async def flow(token: str) -> list:
    "use workflow"
    a = await {first}()
    await create_hook(token=token)
    return [a, await second()]


async def first() -> int:
    "use step"
    return 1


async def second() -> int:
    "use step"
    return 2


async def third() -> int:
    "use step"
    return 3
"""


async def test_changed_source_is_detected_on_replay(world, tmp_path: Path):
    module = f"diverge_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module}.py"
    path.write_text(SOURCE.format(first="first"))
    token = f"tok-{uuid.uuid4().hex}"
    async with running(world, root=tmp_path, relpath=f"{module}.py") as h:
        run = await h.start("flow", token)
        while "hook_created" not in [e.type for e in await run.events()]:
            await world.wait_for_change([f"run:{run.run_id}"], 5)

    path.write_text(SOURCE.format(first="third"))  # the deploy changes the first call
    async with running(world, root=tmp_path, relpath=f"{module}.py"):  # a fresh worker
        await resume_hook(token, "go", world=world)
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
    cause = info.value.cause
    assert cause.code == "REPLAY_DIVERGENCE"
    assert f"step//{module}.py//first" in cause.message
    assert f"step//{module}.py//third" in cause.message
    assert "#1" in cause.message
