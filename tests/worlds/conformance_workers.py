"""The World conformance suite, workers section: heartbeats and releasing a gone worker.

Pulled into a test module with ``from conformance_workers import *`` beside the main suite
(``conformance.py``), whose fixtures and helpers it uses.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conformance import FakeClock, ev, msg, woken_by

from wdk.worlds.base import EventType, WorkerInfo

pytestmark = pytest.mark.anyio


def info(worker_id: str, pid: int = 100, process: str = "boot/ns/1") -> WorkerInfo:
    return WorkerInfo(worker_id, host="box", pid=pid, process=process)


async def test_heartbeat_registers_then_refreshes(world: Any, clock: FakeClock) -> None:
    assert await world.list_workers() == []
    start = clock.now
    await world.heartbeat(info("w2"))
    await world.heartbeat(info("w1", pid=7, process="p7"))
    clock.advance(2)
    await world.heartbeat(info("w1", pid=7, process="p7"))
    workers = await world.list_workers()
    assert [w.worker_id for w in workers] == ["w1", "w2"]
    w1, w2 = workers
    assert (w1.host, w1.pid, w1.process) == ("box", 7, "p7")
    assert w1.started_at == pytest.approx(start) and w1.last_seen == pytest.approx(start + 2)
    assert w2.started_at == pytest.approx(start) and w2.last_seen == pytest.approx(start)


async def test_release_worker_gives_back_its_messages_at_once(world: Any, clock: FakeClock) -> None:
    await world.heartbeat(info("dead"))
    await world.heartbeat(info("alive"))
    await world.enqueue([msg(key="a"), msg(key="b", kind="step"), msg(key="c")])
    await world.append(
        "r1", [ev()], enqueue=[msg(key="d", kind="step", lease_to="dead", lease_s=30)]
    )
    a = await world.claim(["workflow"], worker_id="dead", lease_s=30)
    b = await world.claim(["step"], worker_id="dead", lease_s=30)
    c = await world.claim(["workflow"], worker_id="alive", lease_s=30)
    assert (a.key, b.key, c.key) == ("a", "b", "c")
    seen = {w.worker_id: w for w in await world.list_workers()}["dead"]

    assert await world.release_worker("dead", last_seen=seen.last_seen) == 3
    assert [w.worker_id for w in await world.list_workers()] == ["alive"]
    assert [(m.key, m.owner) for m in await world.list_leases()] == [("c", "alive")]
    for key in ("a", "b", "d"):
        freed = await world.get_message(key)
        assert freed is not None and freed.owner is None and freed.deliveries == 1
    # Visible now, long before the 30 s leases would have lapsed.
    again = await world.claim(["workflow"], worker_id="new", lease_s=30)
    assert again is not None and again.key == "a" and again.deliveries == 2
    assert again.id != a.id
    steps = {(await world.claim(["step"], worker_id="new", lease_s=30)).key for _ in range(2)}
    assert steps == {"b", "d"}


async def test_the_old_holder_cannot_touch_a_released_message(world: Any, clock: FakeClock) -> None:
    """A holder that was paused, not dead, comes back: its ack, release and lease extension
    of the old id find nothing, and the message the new holder claimed stays its own."""
    await world.heartbeat(info("slow"))
    await world.enqueue([msg(kind="step", key="s")])
    old = await world.claim(["step"], worker_id="slow", lease_s=30)
    await world.release_worker("slow", last_seen=clock.now)
    new = await world.claim(["step"], worker_id="fast", lease_s=30)
    assert new is not None and new.id != old.id
    assert await world.extend_lease(old.id, lease_s=60) is False
    await world.release(old.id, not_before=clock.now + 100)
    await world.ack([old.id])
    await world.append("r1", [ev(EventType.STEP_COMPLETED, key="c1:d")], ack=[old.id])
    still = await world.get_message("s")
    assert still is not None and (still.id, still.owner) == (new.id, "fast")
    assert await world.extend_lease(new.id, lease_s=60) is True
    await world.ack([new.id])
    assert await world.get_message("s") is None


async def test_release_worker_leaves_a_worker_that_heartbeat_since(
    world: Any, clock: FakeClock
) -> None:
    await world.heartbeat(info("w"))
    seen = (await world.list_workers())[0]
    await world.enqueue([msg()])
    held = await world.claim(["workflow"], worker_id="w", lease_s=30)
    clock.advance(1)
    await world.heartbeat(info("w"))  # alive after all
    assert await world.release_worker("w", last_seen=seen.last_seen) is None
    assert [w.worker_id for w in await world.list_workers()] == ["w"]
    kept = await world.get_message("k1")
    assert kept is not None and (kept.id, kept.owner) == (held.id, "w")
    assert await world.release_worker("nobody", last_seen=math.inf) is None


async def test_release_worker_with_nothing_leased(world: Any, clock: FakeClock) -> None:
    await world.heartbeat(info("idle"))
    await world.enqueue([msg()])  # pending, nobody's
    assert await world.release_worker("idle", last_seen=math.inf) == 0
    assert await world.list_workers() == []
    pending = await world.get_message("k1")
    assert pending is not None and pending.owner is None and pending.deliveries == 0


async def test_a_released_dirty_message_is_shown_once(world: Any, clock: FakeClock) -> None:
    await world.heartbeat(info("dead"))
    await world.enqueue([msg()])
    await world.claim(["workflow"], worker_id="dead", lease_s=30)
    await world.enqueue([msg(not_before=clock.now + 50)])  # dirty while leased
    await world.release_worker("dead", last_seen=math.inf)
    again = await world.claim(["workflow"], worker_id="new", lease_s=30)
    assert again is not None
    await world.ack([again.id])  # the claim covered the wake-up: nothing left
    assert await world.get_message("k1") is None


async def test_release_worker_wakes_queue_waiters(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])

    async def release(i: int) -> None:
        await world.heartbeat(info("dead"))
        assert await world.claim(["workflow"], worker_id="dead", lease_s=30) is not None
        assert await world.release_worker("dead", last_seen=math.inf) == 1

    assert await woken_by(world, ["queue"], release)
