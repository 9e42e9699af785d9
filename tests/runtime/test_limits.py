"""Limits on workflow code in a real worker: the activation budget and the allocation guard.

Every world runs them (memory, SQLite, PostgreSQL). The budget is small (0.5 s) where a run must
fail, and large where a spin must outlast what the test checks meanwhile; nothing here compares
a duration with a threshold: "while the first spins" is shown by a switch the test flips only
after the second run has completed (``limit_signal``).
"""

from __future__ import annotations

import anyio
import limit_signal
import pytest
from harness import running

from wdk.errors import WorkflowRunFailedError
from wdk.sandbox import SandboxConfig

pytestmark = pytest.mark.anyio

FLOWS = "limit_flows.py"


def _config() -> SandboxConfig:
    return SandboxConfig().with_allowed_modules("limit_signal")


async def _failure(run) -> WorkflowRunFailedError:  # type: ignore[no-untyped-def]
    with pytest.raises(WorkflowRunFailedError) as info:
        await run.return_value(timeout=60)
    assert await run.status() == "failed"
    return info.value


@pytest.mark.parametrize(
    ("workflow", "line"),
    [("spin_forever", 15), ("spin_caught", 24), ("spin_for", 34), ("spin_recursion", 39)],
    ids=["while-true", "caught-by-except-exception", "long-for", "recursion"],
)
async def test_a_body_that_never_yields_fails_the_run(world, workflow, line):
    async with running(world, relpath=FLOWS, workflow_budget_s=0.5) as h:
        run = await h.start(workflow)
        err = await _failure(run)
        cause = err.cause
        assert cause.code == "USER_ERROR"
        assert cause.type == "wdk.errors.BudgetExceededError"
        assert f"limit_flows.py:{line}: workflow code ran" in cause.message
        assert "over its budget of 0.5 s" in cause.message
        assert "'use step' function" in cause.message and "WDK_WORKFLOW_BUDGET" in cause.message
        # The worker is fine: it goes on with other runs.
        assert await h.result("quick", 1) == 3


async def test_another_run_completes_while_one_spins(world):
    limit_signal.reset()
    async with running(world, relpath=FLOWS, workflow_budget_s=120, sandbox_config=_config()) as h:
        spinner = await h.start("spin_until_released")
        assert await anyio.to_thread.run_sync(limit_signal.wait_spinning, 60)
        try:
            # The spinner holds a thread (or the loop for one slice); this run gets through.
            assert await h.result("quick", 40) == 42
            assert await spinner.status() == "running"
            # It left the event loop after one slice and spins in a step thread.
            assert spinner.run_id in h.worker._heavy_runs
        finally:
            limit_signal.release()
        assert await spinner.return_value(timeout=60) == "released"


async def test_a_huge_value_fails_the_run_without_being_built(world):
    async with running(world, relpath=FLOWS, max_allocation=1 << 20) as h:
        err = await _failure(await h.start("huge_string"))
        assert err.cause.type == "wdk.errors.AllocationLimitError"
        assert "limit_flows.py:67: str of length 1 * 1000000000000 would build 931.3 GiB" in (
            err.cause.message
        )
        assert "allocation limit of 1.0 MiB" in err.cause.message


async def test_a_queued_start_whose_first_pass_spins_fails_the_run_not_the_start(world):
    # A start admitted at once runs its first pass beside the worker: code that spins there
    # goes on in a thread (the loop's slice) and fails on the budget like any other run.
    from wdk.api import start

    async with running(world, relpath=FLOWS, workflow_budget_s=0.5) as h:
        run = await start(f"workflow//{FLOWS}//spin_at_start", [], queue="limits-q", world=world)
        err = await _failure(run)
        assert err.cause.type == "wdk.errors.BudgetExceededError"
        assert await h.result("quick", 1) == 3
