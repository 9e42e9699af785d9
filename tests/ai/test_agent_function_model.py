"""DurableAgent over pydantic-ai FunctionModel, on a real worker (memory and SQLite worlds)."""

from __future__ import annotations

import pytest
from ai_paths import AI_FIXTURES
from harness import running
from ui_client import read_all, render

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "hi"}]


def agents(world):
    return running(world, root=AI_FIXTURES, relpath="agents.py")


async def test_plain_text_one_step(world):
    async with agents(world) as h:
        run = await h.start("plain", USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    assert result["text"] == "Hello, world!"
    assert result["steps"] == 1
    assert result["reasons"] == ["stop"]
    assert result["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello, world!"}]},
    ]
    types = [c["type"] for c in chunks]
    assert types[:3] == ["start", "start-step", "text-start"]
    assert types[-2:] == ["finish-step", "finish"]
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}
    seen = render(chunks)
    assert seen["text"] == "Hello, world!" and seen["finishes"] == 1
    ui = result["ui"][0]
    assert ui["role"] == "assistant" and ui["id"] == chunks[0]["messageId"]
    assert [p["type"] for p in ui["parts"]] == ["step-start", "text"]


async def test_ui_messages_as_input(world):
    ui_user = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]
    async with agents(world) as h:
        result = await h.result("plain", ui_user, 5)
    assert result["messages"][0] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}


async def test_v5_finish_has_no_finish_reason(world):
    async with agents(world) as h:
        run = await h.start("plain", USER, 5)
        chunks = await read_all(run)
        await run.return_value(timeout=60)
    assert chunks[-1] == {"type": "finish"}


async def test_tool_call_then_answer_two_steps(world, tmp_path):
    async with agents(world) as h:
        run = await h.start("weather_agent", USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    assert result["steps"] == 2
    assert result["reasons"] == ["tool-calls", "stop"]
    assert result["text"] == "Weather: sunny in Paris (success)"
    assert (tmp_path / "tools.log").read_text() == "weather Paris\n"
    messages = result["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["content"] == [
        {
            "type": "tool-call",
            "toolCallId": "call_w1",
            "toolName": "weather",
            "input": {"city": "Paris"},
        }
    ]
    assert messages[2]["content"][0]["output"] == {"type": "text", "value": "sunny in Paris"}
    seen = render(chunks)
    assert seen["finishes"] == 1
    assert seen["tools"]["call_w1"]["state"] == "tool-output-available"
    assert seen["tools"]["call_w1"]["output"] == "sunny in Paris"
    types = [c["type"] for c in chunks]
    assert types.count("start") == 1 and types.count("start-step") == 2
    assert types.index("tool-input-available") < types.index("tool-output-available")


async def test_multi_step_tool_chain(world):
    async with agents(world) as h:
        result = await h.result("chain_agent", USER)
    assert result == {"text": "Total: 7", "steps": 3, "calls": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}


async def test_workflow_level_tool_may_sleep(world):
    async with agents(world) as h:
        run = await h.start("workflow_tool_agent", USER)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
        events = [e.type for e in await run.events()]
    assert result == {"text": "Total: 20"}  # double(1, 2) = 6, then double(6, 4) = 20
    assert events.count("wait_completed") == 2  # each call slept durably
    assert events.count("step_completed") == 3  # the three model calls, no tool steps


async def test_tool_errors_go_back_to_the_model(world):
    async with agents(world) as h:
        run = await h.start("recovery_agent", USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        events = [e.type for e in await run.events()]
    assert result["steps"] == 4
    text = result["text"]
    assert "call_bad=failed:invalid tool input" in text
    assert "call_boom=failed:FatalError: the tool blew up" in text
    assert "call_ok=success:4" in text
    assert events.count("step_retrying") == 0  # FatalError is not retried
    errors = [c for c in chunks if c["type"] == "tool-output-error"]
    assert [c["toolCallId"] for c in errors] == ["call_bad", "call_boom"]


async def test_prepare_step_sees_step_numbers(world):
    async with agents(world) as h:
        result = await h.result("prepared", USER)
    assert result["seen"] == [
        {"step": 0, "messages": 1, "steps": 0},
        {"step": 1, "messages": 3, "steps": 1},
    ]
    assert result["text"] == "Hello, world!"  # step 1 ran on the model prepare_step chose
    assert result["finished"] == [0, 1, "Hello, world!"]


async def test_structured_output(world):
    async with agents(world) as h:
        result = await h.result("structured_agent", USER)
    assert result == {
        "is_forecast": True,
        "output": {"city": "Paris", "temperature": 21, "saw_schema": True},
    }


async def test_failure_ends_the_stream_with_error_and_finish(world):
    from wdk.errors import WorkflowRunFailedError

    async with agents(world) as h:
        run = await h.start("failing_agent", USER)
        with pytest.raises(WorkflowRunFailedError):
            await run.return_value(timeout=60)
        chunks = await read_all(run)
    assert [c["type"] for c in chunks][-2:] == ["error", "finish"]
    assert render(chunks)["finishes"] == 1
