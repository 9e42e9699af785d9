"""Retry backoff with full jitter (runtime/_executor.RetryPolicy): delays spread over
``[0, min(base * 2**(n-1), max_delay)]``, a step's ``max_delay`` caps them, the draw is the
policy's own (not a step's seeded ``random``), and the delay recorded in ``step_retrying`` is
the one the step's message waits for in the world (never recomputed)."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from harness import FIXTURES

from wdk import serde
from wdk.api import start
from wdk.errors import RetryableError
from wdk.runtime import Project, RetryPolicy, Worker
from wdk.runtime._executor import classify_error

pytestmark = pytest.mark.anyio


def test_delays_spread_over_the_window_and_stay_under_the_ceiling() -> None:
    policy = RetryPolicy(base=1.0, max_delay=10.0, rng=random.Random(7))
    delays = [policy.delay(5) for _ in range(1000)]  # ceiling min(16, 10) = 10
    assert all(0.0 <= d <= 10.0 for d in delays)
    assert len(set(delays)) == 1000
    assert min(delays) < 1.0 and max(delays) > 9.0  # the whole window, not a crowd


def test_the_ceiling_doubles_up_to_max_delay_and_a_steps_own_wins() -> None:
    policy = RetryPolicy(base=0.5, max_delay=5.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.ceiling(6, max_delay=120.0) == 16.0
    assert policy.ceiling(3, max_delay=0.25) == 0.25
    assert policy.ceiling(100_000) == 5.0  # no overflow however many attempts
    assert all(policy.delay(4, max_delay=1.5) <= 1.5 for _ in range(200))


def test_the_draw_is_the_policys_own_not_the_global_random() -> None:
    """A step that seeds ``random`` must not line every worker's retries up again."""
    random.seed(1)
    first = [RetryPolicy().delay(3) for _ in range(5)]
    random.seed(1)
    second = [RetryPolicy().delay(3) for _ in range(5)]
    assert first != second


def test_the_recorded_delay_is_the_retry_time() -> None:
    policy = RetryPolicy(base=4.0, rng=random.Random(3))
    outcome = classify_error(RuntimeError("x"), 2, 3, policy, lambda: 1000.0, 6.0)
    data = serde.decode(outcome.data)
    assert outcome.status == "retry" and outcome.retry_at == data["retry_at"]
    assert data["retry_at"] == 1000.0 + data["delay"] and 0.0 <= data["delay"] <= 6.0
    # retry_after is the step's to set: not jittered
    exact = classify_error(RetryableError("x", retry_after=2), 1, 3, policy, lambda: 10.0)
    assert serde.decode(exact.data)["delay"] == 2.0 and exact.retry_at == 12.0


async def _retrying(world: Any, workflow: str, runs: int) -> list[tuple[dict[str, Any], Any]]:
    """Start ``runs`` runs whose step fails; per run, its first ``step_retrying`` record and
    the step's queue message as the world holds it while the retry waits."""
    started = [
        await start(f"workflow//jitter.py//{workflow}", [], world=world) for _ in range(runs)
    ]
    found = []
    for run in started:
        while not (
            retrying := [
                e for e in await world.read_events(run.run_id) if e.type == "step_retrying"
            ]
        ):
            await world.wait_for_change([f"run:{run.run_id}"], 1.0)
        record = serde.decode(retrying[0].data)
        (cid,) = {e.correlation_id for e in retrying}
        found.append((record, await world.get_message(f"step:{run.run_id}:{cid}")))
    return found


@pytest.mark.parametrize(
    ("workflow", "ceiling"),
    [("call_down", 1000.0), ("call_capped", 2.0), ("call_nested_capped", 0.5)],
)
async def test_a_failing_steps_retry_waits_for_the_delay_it_recorded(
    world: Any, workflow: str, ceiling: float
) -> None:
    """A long base (1000 s) keeps every retry waiting, so the world can be read meanwhile:
    the message's not_before is the recorded retry time, within the step's window."""
    project = Project([FIXTURES])
    worker = Worker(world, project, retry_policy=RetryPolicy(base=1000.0, max_delay=1000.0))
    await world.setup()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await worker.registered()
        found = await _retrying(world, workflow, 12 if ceiling > 1 else 3)
        worker.stop()
        tg.cancel_scope.cancel()
    delays, checked = [], 0
    for record, message in found:
        assert 0.0 <= record["delay"] <= ceiling
        assert record["retry_at"] == record["at"] + record["delay"]
        waiting = message is not None and message.owner is None
        if waiting and message.deliveries == record["attempt"]:  # not taken again yet
            assert message.not_before == record["retry_at"]
            checked += 1
        delays.append(record["delay"])
    assert len(set(delays)) == len(delays)  # spread, not in step
    assert checked >= (len(found) // 2 if ceiling > 1 else 0)


async def test_a_max_delay_that_is_not_a_duration_fails_the_step_saying_what_to_write(
    world: Any,
) -> None:
    from wdk.errors import WorkflowRunFailedError

    worker = Worker(world, Project([FIXTURES]), retry_policy=RetryPolicy(base=0.01))
    await world.setup()
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        run = await start("workflow//jitter.py//call_bad_delay", [], world=world)
        with pytest.raises(WorkflowRunFailedError) as info:
            await run.return_value(timeout=60)
        worker.stop()
    message = info.value.cause.message
    assert "max_delay 'soon' is not a duration" in message
    assert 'inner.max_delay = "30s"' in message
    types = [e.type for e in await world.read_events(run.run_id)]
    assert "step_retrying" not in types  # retrying cannot fix it
