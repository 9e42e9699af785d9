"""wdk.testing: an exported history kept as a regression test."""

from __future__ import annotations

import json
import uuid

import pytest
from harness import running

from wdk.errors import ReplayDivergenceError
from wdk.runtime._deploys import export_history
from wdk.testing import assert_replays, replay

pytestmark = pytest.mark.anyio

SOURCE = """
import wdk


async def flow() -> int:
    "use workflow"
    a = await one()
    {middle}
    return a


def one() -> int:
    "use step"
    return 1


def two() -> int:
    "use step"
    return 2
"""


@pytest.fixture
def world():
    from wdk.worlds import open_world

    return open_world("memory://")


async def test_an_exported_history_is_a_regression_test(world, tmp_path):
    module = f"reg_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module}.py"
    path.write_text(SOURCE.format(middle="await wdk.sleep(0)"))
    async with running(world, root=tmp_path, relpath=f"{module}.py") as h:
        run = await h.start("flow")
        assert await run.return_value(timeout=60) == 1
    history = tmp_path / "flow.json"
    history.write_text(json.dumps(await export_history(world, run.run_id)))

    assert_replays(history, root=tmp_path)
    assert replay(history, root=tmp_path).ok

    path.write_text(SOURCE.format(middle="await two()"))  # a sleep became a step
    with pytest.raises(ReplayDivergenceError) as info:
        assert_replays(history, root=tmp_path)
    text = str(info.value)
    assert run.run_id in text and f"{module}.py:8" in text
    assert "a sleep" in text and f"step//{module}.py//two" in text

    patched = 'if wdk.patched("two"):\n        await two()\n    else:\n        await wdk.sleep(0)'
    path.write_text(SOURCE.format(middle=patched))
    assert_replays(history, root=tmp_path)
