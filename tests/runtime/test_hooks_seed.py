"""Issue 17, items 1-3: typed hooks through the Python client, one live hook per token inside
one run, and reading the stream of an unknown run. On memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from harness import running

from wdk._delivery import deliver_payload
from wdk.api import Run, get_run, resume_hook
from wdk.errors import HookPayloadError, WorkflowRunFailedError, WorkflowRunNotFoundError

pytestmark = pytest.mark.anyio


def flows(world: Any) -> Any:
    return running(world, relpath="hook_flows.py")


async def control(run: Run, n: int) -> list[Any]:
    """The first ``n`` chunks of the run's control stream (waits for them)."""
    out: list[Any] = []
    async for chunk in run.get_readable(namespace="control"):
        out.append(chunk)
        if len(out) == n:
            return out
    raise AssertionError(f"the control stream ended after {out}")


async def test_resume_hook_applies_the_define_hook_schema(world: Any) -> None:
    async with flows(world) as h:
        run = await h.start("typed_approval", "tok-typed")
        await control(run, 1)
        with pytest.raises(HookPayloadError) as err:
            await resume_hook("tok-typed", {"approved": "maybe"}, world=world)
        assert sorted(tuple(e["loc"]) for e in err.value.errors) == [("approved",), ("by",)]
        assert "approved" in str(err.value)
        assert not [e for e in await run.events() if e.type == "hook_received"]
        resumed = await resume_hook("tok-typed", {"approved": True, "by": "ada"}, world=world)
        assert resumed.run_id == run.run_id
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    # The workflow got the model instance, not the dict that was sent.
    assert result == {"type": "Approval", "approved": True, "by": "ada"}


async def test_a_typed_hook_converts_whatever_the_delivery_path(world: Any) -> None:
    """A payload stored without the schema (the bare delivery below every path, an older
    client) still reaches the workflow as the model instance: the hook converts it."""
    async with flows(world) as h:
        run = await h.start("typed_approval", "tok-raw")
        await control(run, 1)
        await deliver_payload(world, "tok-raw", {"approved": "yes", "by": "raw"})
        result = await run.return_value(timeout=60)
    assert result == {"type": "Approval", "approved": True, "by": "raw"}


async def test_a_second_live_hook_with_the_same_token_in_one_run_conflicts(world: Any) -> None:
    async with flows(world) as h:
        run = await h.start("same_token_twice", "tok-twice")
        await control(run, 1)
        await resume_hook("tok-twice", "one", world=world)
        await control(run, 2)
        await resume_hook("tok-twice", "two", world=world)
        result = await run.return_value(timeout=60)
        await h.check_replay(run)
    conflict = result["conflict"]
    assert conflict is not None, "the second create_hook of a live token did not raise"
    assert conflict["token"] == "tok-twice" and conflict["run"] == run.run_id
    assert "this run" in conflict["message"] and "dispose" in conflict["message"]
    assert result["first"] == "one" and result["again"] == "two"


async def test_the_stream_of_an_unknown_run_raises_not_found(world: Any) -> None:
    readable = get_run("wrun_typo", world=world).get_readable()
    with pytest.raises(WorkflowRunNotFoundError) as err:
        async for _ in readable:
            pass
    assert err.value.run_id == "wrun_typo"
    with pytest.raises(WorkflowRunNotFoundError):
        await get_run("wrun_typo", world=world).get_readable(namespace="logs").tail_index()


async def test_resuming_a_hook_from_workflow_code_fails_the_run_and_delivers_nothing(
    world: Any,
) -> None:
    # A resume is a write outside the run's log (a replay would repeat it): workflow code
    # may not do it; a step may.
    async with flows(world) as h:
        waiting = await h.start("typed_approval", "tok-wf")
        await control(waiting, 1)
        bad = await h.start("resume_in_workflow", "tok-wf")
        with pytest.raises(WorkflowRunFailedError) as err:
            await bad.return_value(timeout=60)
        assert "cannot be called from workflow code" in err.value.cause.message
        assert not [e for e in await waiting.events() if e.type == "hook_received"]
        assert await h.result("resume_via_step", "tok-wf") == "resumed"
        assert (await waiting.return_value(timeout=60))["by"] == "a step"
