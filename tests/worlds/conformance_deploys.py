"""The World conformance suite, deploys section: blocked runs, deployments, id prefixes.

Pulled into a test module with ``from conformance_deploys import *`` beside the main suite
(``conformance.py``), whose fixtures and helpers it uses.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from conformance import FakeClock, created, ev, hook, msg, start_run

from wdk.worlds.base import EventType, NewEvent, StreamInfo

pytestmark = pytest.mark.anyio

# -- deploys -----------------------------------------------------------------------------


def blocked(block: bytes = b"block") -> NewEvent:
    return NewEvent(EventType.RUN_BLOCKED, None, block)


def unblocked() -> NewEvent:
    return NewEvent(EventType.RUN_UNBLOCKED, None, b"retry")


def adopted(deployment_id: str) -> NewEvent:
    data = msgpack.packb({"deployment_id": deployment_id}, use_bin_type=True)
    return NewEvent(EventType.RUN_ADOPTED, None, data)


async def start_on(world: Any, run_id: str, deployment_id: str | None, **extra: Any) -> None:
    """A run created on ``deployment_id`` (None: on no deployment, as before deploys)."""
    fields = extra if deployment_id is None else {"deployment_id": deployment_id, **extra}
    await world.append(run_id, [created(**fields)])


async def test_run_blocked_and_unblocked(world: Any, clock: FakeClock) -> None:
    await start_run(world)
    await world.append("r1", [ev(EventType.RUN_STARTED, None)])
    started = clock.now
    clock.advance(5)
    await world.append("r1", [blocked(b"diverged at 3")])
    run = await world.get_run("r1")
    assert (run.status, run.error, run.output) == ("blocked", b"diverged at 3", None)
    assert run.completed_at is None and run.started_at == pytest.approx(started)
    assert [r.run_id for r in (await world.list_runs(status="blocked")).runs] == ["r1"]
    assert (await world.list_runs(status="running")).runs == []
    await world.append("r1", [blocked(b"missing module")])  # blocked again: the newer block
    assert (await world.get_run("r1")).error == b"missing module"
    await world.append("r1", [unblocked()])
    run = await world.get_run("r1")
    assert (run.status, run.error, run.completed_at) == ("running", None, None)
    assert run.started_at == pytest.approx(started)
    assert (await world.list_runs(status="blocked")).runs == []


async def test_run_blocked_leaves_hooks_streams_and_messages(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "tok")], enqueue=[msg(key="a"), msg(key="b")])
    await world.write_chunk("r1", "out", b"x")
    leased = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert leased is not None and leased.key == "a"
    await world.append("r1", [blocked()], ack=[leased.id])  # how a worker gives up a run
    assert (await world.get_run("r1")).status == "blocked"
    assert await world.get_hook_by_token("tok") is not None
    assert await world.stream_info("r1", "out") == StreamInfo(0, False)
    assert await world.get_message("a") is None  # acked by the same append, as asked
    assert await world.get_message("b") is not None
    assert await world.write_chunk("r1", "out", b"y") == 1
    got = await world.deliver_hook("tok", [ev(EventType.HOOK_RECEIVED, "h1")])
    assert got is not None


@pytest.mark.parametrize("end", sorted(EventType.RUN_TERMINAL))
async def test_a_blocked_run_can_end(world: Any, clock: FakeClock, end: str) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "tok")], enqueue=[msg(key="a")])
    await world.write_chunk("r1", "out", b"x")
    await world.append("r1", [ev(EventType.RUN_STARTED, None), blocked()])
    assert (await world.get_run("r1")).status == "blocked"
    clock.advance(1)
    await world.append("r1", [ev(end, None, data=b"end")])
    run = await world.get_run("r1")
    expected = {
        EventType.RUN_COMPLETED: ("completed", b"end", None),
        EventType.RUN_FAILED: ("failed", None, b"end"),
        EventType.RUN_CANCELLED: ("cancelled", None, None),
    }[end]
    assert (run.status, run.output, run.error) == expected
    assert run.completed_at == pytest.approx(clock.now)
    assert await world.get_hook_by_token("tok") is None
    assert await world.stream_info("r1", "out") == StreamInfo(0, True)
    assert await world.get_message("a") is None


async def test_run_events_do_not_change_a_terminal_run(world: Any) -> None:
    await start_on(world, "r1", "d1")
    await world.append("r1", [ev(EventType.RUN_FAILED, None, data=b"boom")])
    before = await world.get_run("r1")
    await world.append("r1", [blocked()], enqueue=[msg(key="late")])
    await world.append("r1", [unblocked()])
    await world.append("r1", [adopted("d2")])
    after = await world.get_run("r1")
    assert after == before
    assert (after.status, after.error, after.deployment_id) == ("failed", b"boom", "d1")
    assert await world.get_message("late") is not None  # not terminal: nothing deleted


async def test_run_started_does_not_unblock_a_run(world: Any, clock: FakeClock) -> None:
    await start_run(world)
    await world.append("r1", [blocked()])  # blocked before it started (its code was missing)
    await world.append("r1", [ev(EventType.RUN_STARTED, None)])
    run = await world.get_run("r1")
    assert (run.status, run.error, run.started_at) == ("blocked", b"block", None)
    await world.append("r1", [unblocked()])
    clock.advance(1)
    await world.append("r1", [ev(EventType.RUN_STARTED, None, key="run:started")])
    run = await world.get_run("r1")
    assert (run.status, run.error) == ("running", None)
    assert run.started_at == pytest.approx(clock.now)


async def test_run_created_keeps_deployment_and_fork_origin(world: Any) -> None:
    await start_on(world, "r1", "d1")
    await start_on(world, "r2", "d2", forked_from="r1")
    await start_run(world, "r3")
    r1, r2, r3 = [await world.get_run(r) for r in ("r1", "r2", "r3")]
    assert (r1.deployment_id, r1.forked_from) == ("d1", None)
    assert (r2.deployment_id, r2.forked_from) == ("d2", "r1")
    assert (r3.deployment_id, r3.forked_from) == (None, None)
    listed = {r.run_id: r for r in (await world.list_runs()).runs}
    assert listed == {"r1": r1, "r2": r2, "r3": r3}


async def test_run_adopted_moves_the_run_to_a_deployment(world: Any) -> None:
    await start_on(world, "r1", "d1")
    await start_run(world, "r2")
    await world.append("r1", [ev(EventType.RUN_STARTED, None), adopted("d2")])
    await world.append("r2", [adopted("d2")])
    r1, r2 = await world.get_run("r1"), await world.get_run("r2")
    assert (r1.status, r1.deployment_id) == ("running", "d2")
    assert (r2.status, r2.deployment_id) == ("pending", "d2")
    assert {r.run_id for r in (await world.list_runs(deployment_id="d2")).runs} == {"r1", "r2"}
    assert (await world.list_runs(deployment_id="d1")).runs == []


async def test_list_runs_id_prefix(world: Any, clock: FakeClock) -> None:
    ids = ["ab1", "ab2", "abc", "b", "a", "aa", "ac", "ab\U0010ffffz", "xab"]
    for run_id in ids:
        await start_run(world, run_id)
        clock.advance(1)

    async def matching(prefix: str, **kw: Any) -> set[str]:
        return {r.run_id for r in (await world.list_runs(id_prefix=prefix, limit=100, **kw)).runs}

    assert await matching("ab") == {"ab1", "ab2", "abc", "ab\U0010ffffz"}
    assert await matching("ab\U0010ffff") == {"ab\U0010ffffz"}
    assert await matching("a") == {"ab1", "ab2", "abc", "a", "aa", "ac", "ab\U0010ffffz"}
    assert await matching("abc") == {"abc"}
    assert await matching("abcd") == set()
    assert await matching("") == set(ids)
    assert await matching("ab", workflow_id="other") == set()


async def test_list_runs_id_prefix_is_literal(world: Any) -> None:
    for run_id in ["a%b", "axb", "a_b", "ayb", "a\\b", "a\\c", "%", "_"]:
        await start_run(world, run_id)

    async def matching(prefix: str) -> set[str]:
        return {r.run_id for r in (await world.list_runs(id_prefix=prefix)).runs}

    assert await matching("a%") == {"a%b"}
    assert await matching("a_") == {"a_b"}
    assert await matching("a\\") == {"a\\b", "a\\c"}
    assert await matching("a\\b") == {"a\\b"}
    assert await matching("%") == {"%"}
    assert await matching("_") == {"_"}


async def test_list_runs_id_prefix_with_status_and_paging(world: Any, clock: FakeClock) -> None:
    for i in range(7):
        await start_run(world, f"run{i}")
        await start_run(world, f"other{i}")
        if i % 2:
            await world.append(f"run{i}", [blocked()])
            await world.append(f"other{i}", [blocked()])
        clock.advance(1)
    seen: list[str] = []
    cursor = None
    while True:
        page = await world.list_runs(id_prefix="run", limit=2, cursor=cursor)
        seen += [r.run_id for r in page.runs]
        if (cursor := page.cursor) is None:
            break
    assert seen == [f"run{i}" for i in reversed(range(7))]
    first = await world.list_runs(id_prefix="run", status="blocked", limit=2)
    assert [r.run_id for r in first.runs] == ["run5", "run3"]
    rest = await world.list_runs(id_prefix="run", status="blocked", limit=2, cursor=first.cursor)
    assert [r.run_id for r in rest.runs] == ["run1"] and rest.cursor is None


async def test_list_runs_deployment_filter(world: Any, clock: FakeClock) -> None:
    for i in range(5):
        await start_on(world, f"r{i}", "d1" if i % 2 == 0 else "d2", workflow_id=f"wf{i % 3}")
        clock.advance(1)
    await start_run(world, "none")
    await world.append("r4", [ev(EventType.RUN_STARTED, None)])
    first = await world.list_runs(deployment_id="d1", limit=2)
    assert [r.run_id for r in first.runs] == ["r4", "r2"]
    second = await world.list_runs(deployment_id="d1", limit=2, cursor=first.cursor)
    assert [r.run_id for r in second.runs] == ["r0"] and second.cursor is None
    assert [r.run_id for r in (await world.list_runs(deployment_id="d2")).runs] == ["r3", "r1"]
    assert [
        r.run_id for r in (await world.list_runs(deployment_id="d1", status="pending")).runs
    ] == [
        "r2",
        "r0",
    ]
    assert [
        r.run_id for r in (await world.list_runs(deployment_id="d1", workflow_id="wf0")).runs
    ] == ["r0"]
    assert [r.run_id for r in (await world.list_runs(deployment_id="d1", id_prefix="r4")).runs] == [
        "r4"
    ]
    assert (await world.list_runs(deployment_id="d3")).runs == []
    assert len((await world.list_runs()).runs) == 6


async def test_claim_by_deployment(world: Any, clock: FakeClock) -> None:
    await start_on(world, "r1", "d1")
    await start_on(world, "r2", "d2")
    await start_run(world, "r3")  # on no deployment
    await world.enqueue([msg("r3", key="m3"), msg("r2", key="m2"), msg("r1", key="m1")])
    await world.enqueue([msg("r1", key="s1", kind="step"), msg("gone", key="m0")])  # m0: no run
    got = await world.claim(["workflow"], worker_id="w1", lease_s=30, deployment_id="d1")
    assert got is not None and (got.key, got.run_id, got.owner) == ("m1", "r1", "w1")
    assert await world.claim(["workflow"], worker_id="w1", lease_s=30, deployment_id="d1") is None
    step = await world.claim(["step", "workflow"], worker_id="w1", lease_s=30, deployment_id="d1")
    assert step is not None and step.key == "s1"
    got = await world.claim(["workflow"], worker_id="w2", lease_s=30, deployment_id="d2")
    assert got is not None and got.key == "m2"
    await world.ack([got.id])
    assert await world.claim(["workflow"], worker_id="w9", lease_s=30, deployment_id="d9") is None
    # A worker pinned to nothing takes anything, oldest first: r3's message, then m0.
    anyone = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert anyone is not None and anyone.key == "m3"
    assert (await world.claim(["workflow"], worker_id="w", lease_s=30)).key == "m0"
    # Adopted runs follow their new deployment; an expired lease is claimable by it.
    await world.append("r1", [adopted("d2")])
    clock.advance(31)
    again = await world.claim(["workflow"], worker_id="w2", lease_s=30, deployment_id="d2")
    assert again is not None and again.key == "m1" and again.deliveries == 2
    assert await world.claim(["step"], worker_id="w1", lease_s=30, deployment_id="d1") is None


async def test_next_due_by_deployment(world: Any, clock: FakeClock) -> None:
    await start_on(world, "r1", "d1")
    await start_on(world, "r2", "d2")
    await start_run(world, "r3")
    assert await world.next_due(["workflow"], deployment_id="d1") is None
    await world.enqueue([msg("r2", key="m2"), msg("r3", key="m3")])  # due now, not d1's
    assert await world.next_due(["workflow"], deployment_id="d1") is None
    await world.enqueue([msg("r1", key="m1", not_before=clock.now + 30)])
    assert await world.next_due(["workflow"], deployment_id="d1") == pytest.approx(clock.now + 30)
    assert await world.next_due(["workflow"], deployment_id="d2") == pytest.approx(clock.now)
    assert await world.next_due(["workflow"]) == pytest.approx(clock.now)
    assert await world.next_due(["step"], deployment_id="d1") is None
    leased = await world.claim(["workflow"], worker_id="w", lease_s=60, deployment_id="d2")
    assert leased is not None and leased.key == "m2"
    assert await world.next_due(["workflow"], deployment_id="d2") is None  # leased: ignored
