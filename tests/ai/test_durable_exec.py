"""Unmodified pydantic-ai ``Agent``s with ``WdkDurability`` inside wdk workflows.

Real worker, memory and SQLite worlds (fixture tree: fixtures/ai/durable_exec). Model functions
and tools append to $AI_TOOL_LOG, so every test can tell what really ran and how often.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from ai_paths import AI_FIXTURES
from fake_openai import FakeOpenAI, Reply
from harness import running

from wdk.errors import WorkflowRunFailedError

ROOT = AI_FIXTURES / "durable_exec"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.anyio


def flows(world: Any, relpath: str = "durable_flows.py") -> Any:
    return running(world, root=ROOT, relpath=relpath)


def ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "tools.log"
    return log.read_text().splitlines() if log.exists() else []


async def steps(run: Any) -> list[str]:
    """The step names of the run's durable calls, in call order."""
    names = []
    for event in await run.events():
        if event.type == "step_created":
            names.append(msgpack.unpackb(event.data, raw=False)["step"].rsplit("//", 1)[-1])
    return names


async def step_args(run: Any) -> list[list[Any]]:
    from wdk import serde

    return [
        list(serde.decode(msgpack.unpackb(e.data, raw=False)["args"]))
        for e in await run.events()
        if e.type == "step_created"
    ]


# -- (a) (b) (c) ------------------------------------------------------------------------------
async def test_plain_answer_is_one_model_step(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_plain", "hi")
        assert await run.return_value(timeout=30) == "Hello from pydantic-ai"
        await h.check_replay(run)
        assert await steps(run) == ["ai.agent.model"]
        module, agent, operation, label, payload = (await step_args(run))[0]
    assert (module, agent, operation, label) == (
        "support_agents",
        "plain",
        "plain__model.request",
        None,
    )
    assert payload["messages"][0]["parts"][0]["content"] == "hi"  # plain JSON in the log
    assert ran(tmp_path) == ["model plain"]


async def test_tool_call_then_answer_is_model_tool_model(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_weather", "weather?")
        result = await run.return_value(timeout=30)
        assert await steps(run) == ["ai.agent.model", "ai.agent.tool", "ai.agent.model"]
        tool_call = (await step_args(run))[1]
    assert result == {
        "output": "Weather: sunny in Paris",
        "messages": 4,
        "run_id": f"{run.run_id}:agent-0",  # replay-stable, unlike pydantic-ai's uuid7 default
    }
    assert tool_call[2:4] == ["weather__function_toolset__<agent>.call_tool", "weather"]
    assert ran(tmp_path) == ["model weather", "tool weather Paris", "model weather"]


async def test_replay_from_the_log_alone_gives_the_same_result_and_reruns_nothing(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_weather", "weather?")
        await run.return_value(timeout=30)
        before = ran(tmp_path)
        for _ in range(2):
            await h.check_replay(run)  # a fresh instance fed the log: same outcome
    assert ran(tmp_path) == before == ["model weather", "tool weather Paris", "model weather"]


async def test_a_model_given_by_name_crosses_as_the_name_and_is_built_in_the_step(world):
    async with flows(world) as h:
        run = await h.start("ask_named_model", "hi")
        assert await run.return_value(timeout=30) == "success (no tool calls)"  # TestModel
        await h.check_replay(run)
        ((_, agent, operation, _, payload),) = await step_args(run)
    assert (agent, operation, payload["model_id"]) == (
        "named_model",
        "named_model__model.request",
        "test",
    )


# -- (d) retries ------------------------------------------------------------------------------
async def test_a_model_step_that_fails_once_is_retried(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_flaky", "hi")
        assert await run.return_value(timeout=30) == "answered on attempt 2"
        await h.check_replay(run)
        events = [e.type for e in await run.events()]
    assert events.count("step_created") == 1 and events.count("step_retrying") == 1
    assert ran(tmp_path) == ["model flaky attempt 1", "model flaky attempt 2"]


async def test_a_failing_tool_uses_its_own_retry_budget_then_fails_the_agent_run(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_fragile", "hi")
        assert await run.return_value(timeout=30) == (
            "the agent failed: the tool's backend is down"
        )
        await h.check_replay(run)
        events = [e.type for e in await run.events()]
    assert events.count("step_failed") == 1 and events.count("step_retrying") == 1
    assert ran(tmp_path) == [
        "model fragile",
        "tool fragile attempt 1",
        "tool fragile attempt 2",  # metadata={"wdk": {"max_retries": 1}}
    ]


# -- concurrency and deps -----------------------------------------------------------------------
async def test_parallel_tool_calls_with_deps(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_adder", "add", 10)
        assert await run.return_value(timeout=30) == "total 100"  # (3 + 7) * 10
        await h.check_replay(run)
        names = await steps(run)
        deps = [args[4]["deps"] for args in await step_args(run)]
    assert names == ["ai.agent.model", "ai.agent.tool", "ai.agent.tool", "ai.agent.model"]
    assert deps == [{"scale": 10}] * 4
    assert ran(tmp_path) == [
        "model adder",
        "tool add 1 2 step ai.agent.tool",
        "tool add 3 4 step ai.agent.tool",
        "model adder",
    ]


async def test_two_agent_runs_in_one_workflow_interleave_deterministically(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_both", "hi")
        assert await run.return_value(timeout=30) == [
            "Weather: sunny in Paris",
            "Hello from pydantic-ai",
            True,
        ]
        for _ in range(2):
            await h.check_replay(run)
        names = [args[1] for args in await step_args(run)]
    assert names == ["weather", "plain", "weather", "weather"]


async def test_runs_evicted_from_the_worker_cache_mid_run_resume_by_replay(world, tmp_path):
    """cache_size=1 with several runs in flight: suspended agent runs (library tasks waiting on
    durable steps included) are torn down and later rebuilt from the log alone."""
    import anyio

    from wdk.api import set_world, start
    from wdk.runtime import Project, RetryPolicy, Worker, set_default_project

    project = Project([ROOT])
    set_default_project(project)
    set_world(world)
    worker = Worker(
        world, project, retry_policy=RetryPolicy(base=0.01), concurrency=4, cache_size=1
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        try:
            adders = [
                await start("workflow//durable_flows.py//ask_adder", ["add", scale], world=world)
                for scale in (1, 2, 3)
            ]
            both = [await start("workflow//durable_flows.py//ask_both", ["hi"], world=world)]
            results = [await run.return_value(timeout=60) for run in [*adders, *both]]
        finally:
            worker.stop()
    assert results == [
        "total 10",
        "total 20",
        "total 30",
        ["Weather: sunny in Paris", "Hello from pydantic-ai", True],
    ]
    lines = ran(tmp_path)
    assert lines.count("tool add 1 2 step ai.agent.tool") == 3  # once per run, never again
    assert lines.count("tool weather Paris") == 1


async def test_a_dynamic_toolset_is_resolved_and_called_inside_steps(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_catalog", "hi")
        assert await run.return_value(timeout=30) == "found item A1"
        await h.check_replay(run)
        operations = [tuple(args[2:4]) for args in await step_args(run)]
    assert operations == [
        ("catalog__dynamic_toolset__catalog.get_tools", None),  # discovery is a step too
        ("catalog__model.request", None),
        ("catalog__dynamic_toolset__catalog.call_tool", "lookup"),
        ("catalog__dynamic_toolset__catalog.get_tools", None),
        ("catalog__model.request", None),
    ]
    assert ran(tmp_path).count("tool lookup A1") == 1


async def test_a_tool_may_opt_out_of_its_step_and_run_as_workflow_code(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_pure", "hi")
        assert await run.return_value(timeout=30) == "doubled: 42"
        assert await steps(run) == ["ai.agent.model", "ai.agent.model"]
        assert ran(tmp_path) == ["model pure", "tool double 21", "model pure"]
        await h.check_replay(run)
    assert ran(tmp_path)[3:] == ["tool double 21"]  # workflow code: it runs again on replay


async def test_argument_validators_and_capability_operations_are_steps(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_booking", "book")
        assert await run.return_value(timeout=30) == "Atlantis is not a real city / booked Oslo"
        names = [tuple(args[2:4]) for args in await step_args(run)]
        before_replay = ran(tmp_path)
        await h.check_replay(run)
    assert names == [
        ("booking__capability__audit.record", None),
        ("booking__model.request", None),
        ("booking__function_toolset__<agent>.validate_args", "book"),  # ModelRetry, as data
        ("booking__model.request", None),
        ("booking__function_toolset__<agent>.validate_args", "book"),
        ("booking__function_toolset__<agent>.call_tool", "book"),
        ("booking__model.request", None),
    ]
    assert before_replay == [
        "audit run started in ai.agent.capability",
        "audit returned RUN STARTED",  # the hook itself is workflow code
        "model booking",
        "validate Atlantis in ai.agent.tool",
        "model booking",
        "validate Oslo in ai.agent.tool",
        "tool book Oslo",
        "model booking",
    ]
    assert ran(tmp_path)[len(before_replay) :] == ["audit returned RUN STARTED"]


async def test_agent_iter_in_a_workflow(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_weather_by_nodes", "weather?")
        output, nodes = await run.return_value(timeout=30)
        await h.check_replay(run)
    assert output == "Weather: sunny in Paris"
    assert nodes == [
        "UserPromptNode",
        "ModelRequestNode",
        "CallToolsNode",
        "ModelRequestNode",
        "CallToolsNode",
        "End",
    ]
    assert ran(tmp_path) == ["model weather", "tool weather Paris", "model weather"]


# -- streaming and events -------------------------------------------------------------------------
async def test_run_stream_in_a_workflow_is_one_streamed_model_step(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_streaming", "hi")
        assert await run.return_value(timeout=30) == "Streamed from a step"
        await h.check_replay(run)
        operations = [args[2] for args in await step_args(run)]
    assert operations == ["stream__model.request_stream"]
    assert ran(tmp_path) == ["model stream"]


async def test_event_stream_handler_runs_inside_steps_once(world, tmp_path):
    async with flows(world) as h:
        run = await h.start("ask_with_events", "hi")
        assert await run.return_value(timeout=30) == "Weather: sunny in Paris"
        await h.check_replay(run)
        names = await steps(run)
    lines = ran(tmp_path)
    assert [line for line in lines if not line.startswith("event ")] == [
        "model weather (streamed)",
        "tool weather Paris",
        "model weather (streamed)",
    ]
    events = [line for line in lines if line.startswith("event ")]
    # Model events are handled live in the model step; the rest each in a step of their own.
    assert "event part_start in ai.agent.model" in events
    assert "event function_tool_call in ai.agent.event" in events
    assert "event function_tool_result in ai.agent.event" in events
    assert names.count("ai.agent.event") == len([e for e in events if "ai.agent.event" in e])
    assert names.count("ai.agent.model") == 2 and names.count("ai.agent.tool") == 1


# -- (e) the real OpenAIChatModel against a fake server --------------------------------------------
@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    # openai_agents.py builds its model from this URL when first imported (once per process).
    with FakeOpenAI() as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("WDK_FAKE_OPENAI_URL", server.base_url)
        yield server


@pytest.fixture
def fake_server(openai_server: FakeOpenAI) -> FakeOpenAI:
    agents = sys.modules.get("openai_agents")
    if agents is not None:  # imported by an earlier test: it must point at this server
        assert agents.model.base_url.startswith(openai_server.base_url)
    openai_server.script, openai_server.requests = [], []
    return openai_server


async def test_openai_chat_model_tool_call_then_answer(world, fake_server, tmp_path):
    fake_server.script = [
        Reply(tool_calls=[("call_1", "weather", {"city": "Oslo"})], usage=(11, 3)),
        Reply(text=["It is sunny in Oslo."], usage=(20, 5)),
    ]
    async with flows(world, "openai_flows.py") as h:
        run = await h.start("ask", "weather in Oslo?")
        result = await run.return_value(timeout=30)
        await h.check_replay(run)
        names = await steps(run)
        log = b"".join(e.data or b"" for e in await run.events())
    assert result == {"output": "It is sunny in Oslo.", "requests": 2, "input_tokens": 31}
    assert names == ["ai.agent.model", "ai.agent.tool", "ai.agent.model"]
    assert ran(tmp_path) == ["tool weather Oslo"]
    first, second = fake_server.requests
    assert first["stream"] is False
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [t["function"]["name"] for t in first["tools"]] == ["weather"]
    assert second["messages"][-1]["role"] == "tool"
    assert "sunny in Oslo" in second["messages"][-1]["content"]
    assert b"sk-wdk-test-secret" not in log  # the key stays in the worker process


async def test_openai_chat_model_streams_inside_the_step(world, fake_server):
    fake_server.script = [Reply(text=["Hel", "lo ", "there."])]
    async with flows(world, "openai_flows.py") as h:
        run = await h.start("ask_streaming", "hi")
        assert await run.return_value(timeout=30) == "Hello there."
        await h.check_replay(run)
        operations = [args[2] for args in await step_args(run)]
    assert operations == ["openai_support__model.request_stream"]
    assert fake_server.requests[0]["stream"] is True


async def test_openai_server_error_is_retried_as_a_step(world, fake_server):
    fake_server.script = [Reply(status=500), Reply(text=["recovered"])]
    async with flows(world, "openai_flows.py") as h:
        run = await h.start("ask", "hi")
        result = await run.return_value(timeout=30)
        events = [e.type for e in await run.events()]
    assert result["output"] == "recovered"
    assert events.count("step_retrying") == 1 and len(fake_server.requests) == 2


# -- (f) a worker killed between the tool step and the next model call ----------------------------
def _worker(db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    wdk = str(Path(sys.executable).with_name("wdk"))
    cmd = [wdk, "worker", "--world", f"sqlite:///{db}", "--root", str(ROOT), "--lease", "1.5"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.slow
async def test_sigkill_between_the_tool_step_and_the_next_model_call(tmp_path):
    from wdk.api import start
    from wdk.worlds import open_world

    db = tmp_path / "wdk.db"
    env = dict(os.environ)
    env.update(
        AI_TOOL_LOG=str(tmp_path / "tools.log"),
        CRASH_GATE=str(tmp_path / "gate"),
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp_path / "cache"),
        WDK_RETRY_BASE="0.05",
    )
    world = open_world(f"sqlite:///{db}")
    await world.setup()
    run = await start("workflow//durable_flows.py//ask_gated", ["weather?"], world=world)
    first = _worker(db, env)
    second = None
    try:
        # The first model call and the tool have completed; the answering model call waits
        # for the gate (or has not started yet): kill the worker there.
        while [e.type for e in await world.read_events(run.run_id)].count("step_completed") < 2:
            await world.wait_for_change([f"run:{run.run_id}"], 2.0)
        _kill(first)
        (tmp_path / "gate").touch()
        second = _worker(db, env)  # a fresh process: replays the workflow from the log
        result = await run.return_value(timeout=60)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                _kill(proc)
        await world.close()
    assert result == {"output": "Weather: sunny in Paris", "messages": 4}
    assert ran(tmp_path).count("tool weather Paris") == 1  # the tool ran once


# -- (g) outside a workflow ------------------------------------------------------------------------
async def test_outside_a_workflow_the_agent_runs_normally(tmp_path):
    from support_agents import weather_agent

    from wdk.ai import WdkDurability

    durability = WdkDurability.from_agent(weather_agent)
    assert durability is not None and not durability.in_durable_context
    result = await weather_agent.run("weather?")
    assert result.output == "Weather: sunny in Paris"
    assert result.run_id != "" and ":agent-" not in result.run_id
    assert ran(tmp_path) == ["model weather", "tool weather Paris", "model weather"]


# -- errors that say what to do ------------------------------------------------------------------
async def test_an_agent_module_that_is_not_allow_listed_gets_a_clear_error(world):
    async with flows(world, "unlisted_flows.py") as h:
        run = await h.start("ask_unlisted", "hi")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=30)
    message = info.value.cause.message
    assert "import pydantic_ai is not allowed in workflow code" in message
    assert "sandbox-allowed-modules" in message and "the module that defines" in message


def test_constructing_a_durable_agent_in_workflow_code_is_refused():
    from pydantic_ai import Agent
    from pydantic_ai.models.test import TestModel

    from wdk.ai import WdkDurability
    from wdk.errors import SandboxError

    source = "Agent(TestModel(), name='inline', capabilities=[WdkDurability()])"
    sandboxed = {"wdk sandbox": object(), "__name__": "flows", "Agent": Agent}
    sandboxed.update(TestModel=TestModel, WdkDurability=WdkDurability)
    with pytest.raises(SandboxError, match="sandbox-allowed-modules"):
        exec(source, sandboxed)  # as workflow code would run it


async def test_a_run_timeout_is_refused_as_a_wall_clock_timer(world):
    async with flows(world) as h:
        run = await h.start("ask_with_timeout", "hi")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=30)
    assert "wall-clock timers are not durable" in info.value.cause.message
    assert "wdk.sleep" in info.value.cause.message
