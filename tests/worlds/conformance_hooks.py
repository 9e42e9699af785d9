"""World conformance, hook tokens inside one run (issue 17, item 2): a token names one live
hook, whether the other holder is another run or the same one.

The runtime refuses a second live hook of a token in its own run before writing anything
(``WorkflowInstance.create_hook``); the world is the backstop for everything else, and must
refuse it even when both hooks arrive in one append (an old worker's batch).
"""

from __future__ import annotations

from typing import Any

import pytest
from conformance import ev, hook, msg, start_run

from wdk.worlds.base import TokenConflict

pytestmark = pytest.mark.anyio


async def test_same_run_second_hook_of_a_token_in_one_append_conflicts(world: Any) -> None:
    await start_run(world, "r1")
    with pytest.raises(TokenConflict) as info:
        await world.append(
            "r1", [ev(cid="x"), hook("h1", "tok"), hook("h2", "tok")], enqueue=[msg("r1", "k2")]
        )
    assert (info.value.token, info.value.run_id) == ("tok", "r1")
    assert len(await world.read_events("r1")) == 1  # nothing of the refused append
    assert await world.get_message("k2") is None
    assert await world.get_hook_by_token("tok") is None


async def test_same_run_other_hook_conflicts_and_the_holder_keeps_the_token(world: Any) -> None:
    await start_run(world, "r1")
    await world.append("r1", [hook("h1", "tok")])
    with pytest.raises(TokenConflict) as info:
        await world.append("r1", [hook("h2", "tok")])
    assert info.value.run_id == "r1"
    found = await world.get_hook_by_token("tok")
    assert found is not None and found.correlation_id == "h1"
