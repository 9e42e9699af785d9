"""The runtime issue's behaviours, each on the memory and SQLite worlds with a real worker."""

from __future__ import annotations

import msgpack
import pytest
from harness import running

from wdk import serde
from wdk.errors import WorkflowRunCancelledError, WorkflowRunFailedError

pytestmark = pytest.mark.anyio


async def test_sequential_steps(world):
    async with running(world) as h:
        assert await h.result("sequential", 5) == [1, 2, 3, 4, 5]


async def test_gather_of_steps(world):
    async with running(world) as h:
        assert await h.result("fan_out", 6) == [0, 1, 4, 9, 16, 25]


async def test_create_task_of_step_calls(world):
    async with running(world) as h:
        assert await h.result("tasks_of_steps") == ["b", 12]


async def test_race_step_beats_long_sleep(world):
    async with running(world) as h:
        assert await h.result("race_step_vs_sleep") == "step won"


async def test_race_sleep_beats_slow_step(world):
    async with running(world) as h:
        assert await h.result("race_sleep_vs_step") == "sleep won"


async def test_race_of_steps(world):
    async with running(world) as h:
        assert await h.result("race_steps") == "fast"


async def test_wait_first_completed(world):
    async with running(world) as h:
        assert await h.result("wait_first") == ["a", 1]


async def test_retry_then_success_on_attempt_3(world):
    async with running(world) as h:
        run = await h.start("retries", 3)
        assert await run.return_value(timeout=60) == 3
        types = [e.type for e in await run.events()]
        assert types.count("step_retrying") == 2
        assert types.count("step_completed") == 1


async def test_retry_with_custom_delay(world):
    async with running(world) as h:
        run = await h.start("custom_delay")
        assert await run.return_value(timeout=60) == 2
        retrying = [serde.decode(e.data) for e in await run.events() if e.type == "step_retrying"]
        assert len(retrying) == 1
        assert retrying[0]["retry_at"] - retrying[0]["at"] == pytest.approx(0.2, abs=1e-6)


async def test_retries_disabled(world):
    async with running(world) as h:
        run = await h.start("no_retries")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
        assert "this step always fails" in info.value.cause.message
        types = [e.type for e in await run.events()]
        assert "step_retrying" not in types
        assert types.count("step_failed") == 1


async def test_fatal_error_uncaught_fails_run(world):
    async with running(world) as h:
        run = await h.start("fatal_uncaught")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
        assert info.value.cause.code == "USER_ERROR"
        assert "card declined" in info.value.cause.message
        assert await run.status() == "failed"
        assert [e.type for e in await run.events()].count("step_started") == 1


async def test_an_error_whose_str_raises_still_fails_the_run(world):
    # str() of an error holding a 4,301-digit int raises ValueError (Python's int conversion
    # limit): the run must still end failed, with a message saying so, not stay running.
    async with running(world) as h:
        run = await h.start("huge_int_error_uncaught")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
        assert "str() failed" in info.value.cause.message
        assert "FatalError" in info.value.cause.message
        assert await run.status() == "failed"


async def test_fatal_error_caught(world):
    async with running(world) as h:
        assert await h.result("fatal_caught") == "caught: card declined"


async def test_step_error_caught_with_message(world):
    async with running(world) as h:
        assert await h.result("step_error_caught") == "caught ValueError: this step always fails"


async def test_exception_three_calls_deep_points_at_user_code(world):
    async with running(world) as h:
        run = await h.start("deep_error")
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
        stack = info.value.cause.stack
        assert "helpers.py" in stack and "flows.py" in stack
        for fn in ("deep_a", "deep_b", "deep_c", "deep_error"):
            assert fn in stack
        assert "line 13, in deep_c" in stack
        assert "/wdk/runtime/" not in stack


@pytest.mark.parametrize(
    "value",
    ["a\0b", 2**100, -(2**90), {"nested": [1, (2, 3), {"k": {4, 5}}], 7: b"\0bytes"}],
    ids=["null-byte", "big-int", "negative-big-int", "nested"],
)
async def test_values_round_trip(world, value):
    async with running(world) as h:
        assert await h.result("round_trip", value) == value


async def test_parallel_sleeps(world):
    async with running(world) as h:
        run = await h.start("parallel_sleeps")
        assert await run.return_value(timeout=60) == "slept"
        assert [e.type for e in await run.events()].count("wait_completed") == 3


async def test_sleep_in_a_loop(world):
    async with running(world) as h:
        assert await h.result("sleep_loop", 4) == 4


async def test_metadata_in_workflow_and_step(world):
    async with running(world) as h:
        run = await h.start("metadata")
        out = await run.return_value(timeout=60)
        assert out["run_id"] == run.run_id
        assert out["name"] == "metadata"
        assert out["step"]["run_id"] == run.run_id
        assert out["step"]["attempt"] == 1
        assert out["step"]["step_name"] == "step_meta"
        created = [e for e in await run.events() if e.type == "step_created"]
        assert out["step"]["step_id"] == created[0].correlation_id


async def test_closures_and_step_as_factory(world):
    async with running(world) as h:
        assert await h.result("closures", 3) == [23, 6, 15]


async def test_aliases_and_step_references(world):
    async with running(world) as h:
        assert await h.result("aliases") == [3, "via reference"]


async def test_child_run_started_from_a_step(world):
    async with running(world) as h:
        assert await h.result("parent", 3) == {"child": [1, 2, 3]}


async def test_cancel_a_sleeping_run(world):
    async with running(world) as h:
        run = await h.start("sleeper")
        while "wait_created" not in [e.type for e in await run.events()]:
            await world.wait_for_change([f"run:{run.run_id}"], 5)
        await run.cancel()
        assert await run.status() == "cancelled"
        with pytest.raises(WorkflowRunCancelledError):
            await run.return_value(timeout=5)


async def test_idempotent_start(world):
    async with running(world) as h:
        a = await h.start("sequential", 2, run_id="wrun_fixed")
        b = await h.start("sequential", 2, run_id="wrun_fixed")
        assert a.run_id == b.run_id == "wrun_fixed"
        assert await b.return_value(timeout=60) == [1, 2]
        types = [e.type for e in await a.events()]
        assert types.count("run_created") == 1
        assert types.count("run_completed") == 1


async def test_deterministic_clock_random_uuid(world):
    async with running(world) as h:
        run = await h.start("clock_and_random")
        out = await run.return_value(timeout=60)
        events = await run.events()
        started = serde.decode(next(e for e in events if e.type == "run_started").data)
        assert out["t0"] == started["at"]
        completed = serde.decode(next(e for e in events if e.type == "step_completed").data)
        assert out["t1"] == completed["at"]
        seed = msgpack.unpackb(events[0].data)["seed"]
        assert len(seed) == 16
