"""The World conformance suite, flow-control section: queues, admission, dedupe, debounce.

Pulled into a test module with ``from conformance_queues import *`` beside the main suite
(``conformance.py``), whose fixtures and helpers it uses. The clock is the fake one, so rate
windows, delays and debounces are moved by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from conformance import FakeClock, created, ev, msg, woken_by

from wdk.errors import QueueError
from wdk.worlds._flow import FlowStart, QueueSpec, limit_kind, parse_limit_kind
from wdk.worlds.base import EventType

pytestmark = pytest.mark.anyio


async def land(world: Any, run_id: str, event: Any, flow: FlowStart) -> str:
    """``start_queued``, answering the id of the run the start landed on."""
    landed = await world.start_queued(run_id, event, flow)
    assert landed.appended is None  # no first pass offered: nothing else written
    return str(landed.run_id)


async def statuses(world: Any, ids: list[str]) -> list[str]:
    return [(await world.get_run(r)).status for r in ids]


async def start_n(world: Any, n: int, flow: FlowStart, prefix: str = "r") -> list[str]:
    return [await land(world, f"{prefix}{i}", created(input=b"%d" % i), flow) for i in range(n)]


async def end(world: Any, run_id: str, etype: str = EventType.RUN_COMPLETED) -> None:
    """End a run, and admit as a worker's admission loop does when a queued run ends.

    SQLite and memory admit in the ending transaction already; PostgreSQL NOTIFYs ``admit``
    (see test_a_queued_run_ending_wakes_admit_waiters) and the loop admits.
    """
    await world.append(run_id, [ev(etype, None, "run:end")])
    await world.admit()


async def test_queue_definitions_upsert_and_list(world: Any) -> None:
    assert await world.get_queue("q") is None
    await world.register_queues(
        [QueueSpec("q", concurrency=2), QueueSpec("a", rate_limit=5, rate_period=1.0)]
    )
    await world.register_queues([QueueSpec("q", concurrency=3, priority=False)])
    assert await world.get_queue("q") == QueueSpec("q", concurrency=3, priority=False)
    assert [q.name for q in await world.list_queues()] == ["a", "q"]


async def test_unknown_queue_writes_nothing(world: Any) -> None:
    with pytest.raises(QueueError, match="unknown queue 'nope'"):
        await land(world, "r1", created(), FlowStart("nope"))
    assert await world.get_run("r1") is None
    assert await world.read_events("r1") == []


async def test_concurrency_limit_and_slots_come_back_on_end(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=2)])
    ids = await start_n(world, 5, FlowStart("q"))
    assert await statuses(world, ids) == ["pending", "pending", "queued", "queued", "queued"]
    # admitted runs have their ordinary start message; waiting ones none
    assert (await world.get_message("wf:r0")) is not None
    assert (await world.get_message("wf:r2")) is None
    info = await world.get_run("r2")
    assert (info.queue, info.queue_key, info.priority) == ("q", None, 0)
    # a run that ends hands its slot to the next one in the same transaction
    await end(world, "r0")
    assert await statuses(world, ids) == ["completed", "pending", "pending", "queued", "queued"]
    assert (await world.get_message("wf:r2")) is not None
    # running and blocked runs hold their slot too; failed and cancelled free it
    await world.append("r1", [ev(EventType.RUN_STARTED, None, "run:started")])
    assert await world.admit() is None
    assert await statuses(world, ids[3:]) == ["queued", "queued"]
    await end(world, "r1", EventType.RUN_FAILED)
    await end(world, "r2", EventType.RUN_CANCELLED)
    assert await statuses(world, ids[3:]) == ["pending", "pending"]


async def test_cancelling_a_queued_run(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=1)])
    ids = await start_n(world, 2, FlowStart("q"))
    await end(world, "r1", EventType.RUN_CANCELLED)
    await end(world, "r0")
    assert await statuses(world, ids) == ["completed", "cancelled"]
    assert await world.get_message("wf:r1") is None


async def test_per_key_concurrency(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=3, per_key_concurrency=1)])
    keys = ["a", "a", "b", "a", "c", "b"]
    ids = [await land(world, f"r{i}", created(), FlowStart("q", key=k)) for i, k in enumerate(keys)]
    assert await statuses(world, ids) == [
        "pending", "queued", "pending", "queued", "pending", "queued"
    ]  # fmt: skip
    await end(world, "r0")  # a's slot: r1 (the oldest a) goes, not r3
    assert await statuses(world, ids[1:4]) == ["pending", "pending", "queued"]


async def test_priority_then_fifo(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=1)])
    await land(world, "first", created(), FlowStart("q"))
    order = [("low", 0), ("high", 5), ("mid", 1), ("high2", 5)]
    for run_id, priority in order:
        await land(world, run_id, created(), FlowStart("q", priority=priority))
    admitted = []
    current = "first"
    for _ in order:
        await end(world, current)
        (current,) = [r for r, _ in order if (await world.get_run(r)).status == "pending"]
        admitted.append(current)
    assert admitted == ["high", "high2", "mid", "low"]


async def test_priority_false_is_fifo(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=1, priority=False)])
    await land(world, "first", created(), FlowStart("q"))
    await land(world, "a", created(), FlowStart("q", priority=0))
    await land(world, "b", created(), FlowStart("q", priority=9))
    await end(world, "first")
    assert await statuses(world, ["a", "b"]) == ["pending", "queued"]


async def test_rate_limit_sliding_window(world: Any, clock: FakeClock) -> None:
    await world.register_queues([QueueSpec("q", rate_limit=2, rate_period=10.0)])
    t0 = clock.now
    ids = await start_n(world, 5, FlowStart("q"))
    assert await statuses(world, ids) == ["pending", "pending", "queued", "queued", "queued"]
    assert await world.admit() == pytest.approx(t0 + 10.0)
    clock.advance(9.5)
    assert await world.admit() == pytest.approx(t0 + 10.0)
    assert await statuses(world, ids[2:]) == ["queued", "queued", "queued"]
    clock.advance(0.5)
    assert await world.admit() == pytest.approx(t0 + 20.0)
    assert await statuses(world, ids[2:]) == ["pending", "pending", "queued"]
    clock.advance(10.0)
    assert await world.admit() is None
    assert await statuses(world, ids) == ["pending"] * 5


async def test_dedupe_key_answers_the_unfinished_run(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=1)])
    flow = FlowStart("q", dedupe_key="invoice-991")
    assert await land(world, "r1", created(), flow) == "r1"
    assert await land(world, "r2", created(), flow) == "r1"
    assert await world.get_run("r2") is None
    assert await land(world, "r3", created(), FlowStart("q", dedupe_key="other")) == "r3"
    await end(world, "r1")
    # finished: the key is free again
    assert await land(world, "r4", created(), flow) == "r4"
    # a run id already used answers that run
    assert await land(world, "r4", created(), FlowStart("q")) == "r4"


async def test_delay_holds_the_run_back(world: Any, clock: FakeClock) -> None:
    await world.register_queues([QueueSpec("q")])
    t0 = clock.now
    await land(world, "r1", created(), FlowStart("q", delay=60.0))
    assert await statuses(world, ["r1"]) == ["queued"]
    assert await world.admit() == pytest.approx(t0 + 60.0)
    clock.advance(60.0)
    assert await world.admit() is None
    assert await statuses(world, ["r1"]) == ["pending"]


async def test_debounce_collapses_starts_with_the_last_arguments(
    world: Any, clock: FakeClock
) -> None:
    await world.register_queues([QueueSpec("q")])
    flow = FlowStart("q", key="customer-42", debounce=5.0)
    assert await land(world, "r1", created(input=b"one"), flow) == "r1"
    clock.advance(3.0)
    assert await land(world, "r2", created(input=b"two"), flow) == "r1"
    other = FlowStart("q", key="customer-7", debounce=5.0)
    assert await land(world, "r3", created(input=b"x"), other) == "r3"
    clock.advance(3.0)  # 6 s after the first start, 3 s after the last: still waiting
    assert await world.admit() == pytest.approx(clock.now + 2.0)
    assert await statuses(world, ["r1", "r3"]) == ["queued", "queued"]
    clock.advance(2.0)
    assert await world.admit() is None
    assert await statuses(world, ["r1", "r3"]) == ["pending", "pending"]
    assert await world.get_run("r2") is None
    assert (await world.get_run("r1")).input == b"two"
    (first,) = await world.read_events("r1")
    assert b"two" in (first.data or b"")
    # once started, a new start opens a new window
    assert await land(world, "r4", created(input=b"three"), flow) == "r4"


async def test_a_queued_runs_end_hands_its_slot_on(world: Any) -> None:
    """SQLite and memory admit in the ending transaction; PostgreSQL NOTIFYs ``admit``."""
    await world.register_queues([QueueSpec("q", concurrency=1)])
    ids = await start_n(world, 30, FlowStart("q"))
    if world.url.startswith("postgresql"):

        async def action(i: int) -> None:
            await world.append(ids[i], [ev(EventType.RUN_COMPLETED, None, "run:end")])
            await world.admit()  # the slot goes to the next run, whose end comes next

        assert await woken_by(world, ["admit"], action)
    else:
        await world.append("r0", [ev(EventType.RUN_COMPLETED, None, "run:end")])
        assert await statuses(world, ids[:2]) == ["completed", "pending"]


# -- steps with limits -------------------------------------------------------------------


async def test_limit_kind_round_trips() -> None:
    kind = limit_kind("step//a.py//charge", 5, 10, 1.0)
    assert kind == "limit:5:10:1:step//a.py//charge"
    assert parse_limit_kind(kind) == QueueSpec("step//a.py//charge", 5, None, 10, 1.0)
    assert parse_limit_kind(limit_kind("s", None, None, None)) == QueueSpec("s")


async def test_claim_limited_holds_step_concurrency(world: Any, clock: FakeClock) -> None:
    kind = limit_kind("step//a.py//charge", 2, None, None)
    await world.enqueue([msg("r1", f"s{i}", kind) for i in range(4)])
    # an ordinary claim never takes them
    assert await world.claim(["workflow", "step", "timer"], worker_id="w", lease_s=5) is None
    first, _ = await world.claim_limited(worker_id="w1", lease_s=5)
    second, _ = await world.claim_limited(worker_id="w2", lease_s=5)
    assert (first.key, second.key) == ("s0", "s1")
    assert await world.claim_limited(worker_id="w3", lease_s=5) == (None, True)
    await world.ack([first.id])  # a slot comes back when its message is done
    third, _ = await world.claim_limited(worker_id="w3", lease_s=5)
    assert third.key == "s2"
    clock.advance(6)  # leases lapse (a killed worker): their slots come back
    again, _ = await world.claim_limited(worker_id="w4", lease_s=5)
    assert again is not None and again.key in ("s1", "s2", "s3")
    assert (await world.claim_limited(worker_id="w5", lease_s=5))[0] is not None


async def test_claim_limited_holds_step_rate(world: Any, clock: FakeClock) -> None:
    kind = limit_kind("step//a.py//paced", None, 2, 1.0)
    await world.enqueue([msg("r1", f"s{i}", kind) for i in range(5)])
    got = [await world.claim_limited(worker_id="w", lease_s=30) for _ in range(3)]
    assert [m is not None for m, _ in got] == [True, True, False]
    assert got[2] == (None, True)
    clock.advance(0.5)
    assert (await world.claim_limited(worker_id="w", lease_s=30))[0] is None
    clock.advance(0.5)
    assert (await world.claim_limited(worker_id="w", lease_s=30))[0] is not None


async def test_claim_limited_with_nothing_limited(world: Any) -> None:
    await world.enqueue([msg("r1", "s0", "step")])
    assert await world.claim_limited(worker_id="w", lease_s=5) == (None, False)


async def test_a_start_admitted_at_once_writes_the_offered_first_pass(world: Any) -> None:
    await world.register_queues([QueueSpec("q", concurrency=1)])
    first = [ev(EventType.RUN_STARTED, None, "run:started"), ev(EventType.STEP_CREATED, "c1")]
    step = msg("r1", "step:r1:c1", "step", lease_to="w", lease_s=30)
    landed = await world.start_queued("r1", created(), FlowStart("q"), first=first, enqueue=[step])
    assert landed.run_id == "r1" and landed.appended is not None
    assert landed.appended.seq == 3 and len(landed.appended.message_ids) == 1
    assert [e.type for e in await world.read_events("r1")] == [
        EventType.RUN_CREATED, EventType.RUN_STARTED, EventType.STEP_CREATED
    ]  # fmt: skip
    assert (await world.get_run("r1")).status == "running"
    assert await world.get_message("wf:r1") is None  # no start message: it went on at once
    assert (await world.get_message("step:r1:c1")).owner == "w"
    # the queue is full: the next start waits, and its offered pass is dropped
    step2 = msg("r2", "step:r2:c1", "step", lease_to="w", lease_s=30)
    waiting = await world.start_queued(
        "r2", created(), FlowStart("q"), first=first, enqueue=[step2]
    )
    assert (waiting.run_id, waiting.appended) == ("r2", None)
    assert [e.type for e in await world.read_events("r2")] == [EventType.RUN_CREATED]
    assert (await world.get_run("r2")).status == "queued"
    assert await world.get_message("step:r2:c1") is None
    await end(world, "r1")  # now it is admitted the ordinary way, with a start message
    assert await world.get_message("wf:r2") is not None
