"""DurableAgent driving the real OpenAIChatModel against a fake server on 127.0.0.1."""

from __future__ import annotations

import pytest
from ai_paths import AI_FIXTURES
from fake_openai import Reply
from harness import running
from ui_client import read_all, render

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "hi"}]


def agents(world):
    return running(world, root=AI_FIXTURES, relpath="agents.py")


async def test_tool_call_then_answer(world, fake_openai, tmp_path):
    fake_openai.script = [
        Reply(text=["Let me check. "], tool_calls=[("call_1", "weather", {"city": "Oslo"})]),
        Reply(text=["It is ", "sunny."]),
    ]
    async with agents(world) as h:
        run = await h.start("openai_agent", fake_openai.base_url, USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    assert result["steps"] == 2 and result["text"] == "It is sunny."
    assert (tmp_path / "tools.log").read_text() == "weather Oslo\n"
    first, second = fake_openai.requests
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert {t["function"]["name"] for t in first["tools"]} == {"weather", "add"}
    weather = next(t for t in first["tools"] if t["function"]["name"] == "weather")
    assert weather["function"]["parameters"]["properties"] == {"city": {"type": "string"}}
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_1"
    assert "sunny in Oslo" in tool_msg["content"]
    seen = render(chunks)
    assert seen["text"] == "Let me check. It is sunny." and seen["finishes"] == 1


async def test_total_usage_is_summed(world, fake_openai):
    fake_openai.script = [
        Reply(tool_calls=[("call_1", "add", {"a": 1, "b": 2})], usage=(11, 3)),
        Reply(text=["3"], usage=(20, 1)),
    ]
    async with agents(world) as h:
        result = await h.result("usage_agent", fake_openai.base_url, USER)
    assert result["reasons"] == ["tool-calls", "stop"]
    assert [s["inputTokens"] for s in result["steps"]] == [11, 20]
    assert result["usage"] == {
        "inputTokens": 31,
        "outputTokens": 4,
        "totalTokens": 35,
        "reasoningTokens": 0,
        "cachedInputTokens": 0,
    }


async def test_retry_after_500_does_not_duplicate_text(world, fake_openai):
    fake_openai.script = [Reply(status=500), Reply(text=["Hello", " again"])]
    async with agents(world) as h:
        run = await h.start("openai_agent", fake_openai.base_url, USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        events = [e.type for e in await run.events()]
    assert events.count("step_retrying") == 1
    assert result["text"] == "Hello again"
    seen = render(chunks)
    assert seen["text"] == "Hello again" and seen["finishes"] == 1
    assert [c["type"] for c in chunks].count("start-step") == 1


async def test_retry_after_cut_stream_continues_the_delivered_text(world, fake_openai):
    fake_openai.script = [
        Reply(text=["Hello", " there", " friend"], cut_after=2),
        Reply(text=["Hello", " there", " friend"]),
    ]
    async with agents(world) as h:
        run = await h.start("openai_agent", fake_openai.base_url, USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
        events = [e.type for e in await run.events()]
    assert events.count("step_retrying") == 1
    assert result["text"] == "Hello there friend"
    seen = render(chunks)  # strict: no delta to a closed part, one finish
    assert seen["text"] == "Hello there friend"
    assert [c["type"] for c in chunks].count("text-start") == 1


async def test_retry_that_diverges_opens_a_fresh_part(world, fake_openai):
    fake_openai.script = [
        Reply(text=["Hello", " there", " friend"], cut_after=2),
        Reply(text=["Goodbye"]),
    ]
    async with agents(world) as h:
        run = await h.start("openai_agent", fake_openai.base_url, USER)
        chunks = await read_all(run)
        result = await run.return_value(timeout=60)
    assert result["text"] == "Goodbye"
    seen = render(chunks)
    texts = [p["text"] for p in seen["parts"] if p["type"] == "text"]
    assert texts[-1] == "Goodbye"
    assert seen["finishes"] == 1
