"""Tool approval: the agent asks through a chunk, waits on a hook, and goes on either way."""

from __future__ import annotations

import pytest
from ai_paths import AI_FIXTURES
from harness import running
from ui_client import render

from wdk.api import resume_hook
from wdk.errors import HookPayloadError

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "delete it"}]


async def _answer(h, world, workflow, decision):
    run = await h.start(workflow, USER)
    chunks = []
    async for chunk in run.get_readable():
        chunks.append(chunk)
        if chunk["type"] == "tool-approval-request":
            assert chunk["approvalId"] == f"{run.run_id}:call_del"
            await resume_hook(chunk["approvalId"], decision, world=world)
    return run, chunks, await run.return_value(timeout=60)


async def test_approval_granted(world):
    async with running(world, root=AI_FIXTURES, relpath="agents.py") as h:
        run, chunks, result = await _answer(h, world, "approval_agent", {"approved": True})
        await h.check_replay(run)
    assert result["text"] == "success: deleted /tmp/x"
    seen = render(chunks)
    assert seen["finishes"] == 1
    assert seen["tools"]["call_del"]["state"] == "tool-output-available"
    types = [c["type"] for c in chunks]
    assert types.index("tool-input-available") < types.index("tool-approval-request")
    assert types.index("tool-approval-request") < types.index("tool-output-available")


async def test_approval_denied(world):
    async with running(world, root=AI_FIXTURES, relpath="agents.py") as h:
        decision = {"approved": False, "reason": "not that file"}
        run, chunks, result = await _answer(h, world, "approval_agent", decision)
        events = [e.type for e in await run.events()]
    assert result["text"] == "denied: not that file"
    assert {"type": "tool-output-denied", "toolCallId": "call_del"} in chunks
    tool_msg = result["messages"][2]
    assert tool_msg["content"][0]["output"] == {
        "type": "execution-denied",
        "reason": "not that file",
    }
    # the tool step never ran: only the two model steps and the approval-request write
    assert events.count("step_completed") == 3


async def test_predicate_says_no_approval_needed(world):
    async with running(world, root=AI_FIXTURES, relpath="agents.py") as h:
        run = await h.start("predicate_approval_agent", USER)
        chunks = [c async for c in run.get_readable()]
        result = await run.return_value(timeout=60)
    assert result["text"] == "success: deleted /tmp/x"
    assert "tool-approval-request" not in [c["type"] for c in chunks]


async def test_an_approval_payload_is_validated_before_it_is_stored(world):
    """Issue 17, item 6: ``{"approved": "maybe"}`` is refused (HookPayloadError), nothing is
    stored, and the agent goes on with the next, valid decision."""
    async with running(world, root=AI_FIXTURES, relpath="agents.py") as h:
        run = await h.start("approval_agent", USER)
        chunks = []
        async for chunk in run.get_readable():
            chunks.append(chunk)
            if chunk["type"] == "tool-approval-request":
                token = chunk["approvalId"]
                for bad in ({"approved": "maybe"}, {"reason": "no decision"}, "yes", None):
                    with pytest.raises(HookPayloadError) as err:
                        await resume_hook(token, bad, world=world)
                    assert err.value.errors, bad
                received = [e for e in await run.events() if e.type == "hook_received"]
                assert received == []
                await resume_hook(token, {"approved": False, "reason": "not now"}, world=world)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    assert result["text"] == "denied: not now"
    assert {"type": "tool-output-denied", "toolCallId": "call_del"} in chunks
