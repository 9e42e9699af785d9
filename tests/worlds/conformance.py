"""The World conformance suite: every backend must pass every test here.

Each test takes a ``world`` fixture (set up, empty, its clock the test's ``clock``: a
:class:`FakeClock` the test moves by hand, so leases and delays need no sleeping). Pull the
suite into a test module with ``from conformance import *``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgpack
import pytest

from wdk.errors import WorldError
from wdk.worlds.base import (
    DuplicateEvent,
    EventType,
    NewEvent,
    NewMessage,
    StreamInfo,
    TokenConflict,
)

pytestmark = pytest.mark.anyio


class FakeClock:
    """A hand-moved clock: ``clock()`` is the time, ``clock.advance(s)`` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


# -- helpers -----------------------------------------------------------------------------


def created(workflow_id: str = "wf", input: bytes = b"args", **extra: Any) -> NewEvent:
    data = msgpack.packb({"workflow_id": workflow_id, "input": input, **extra}, use_bin_type=True)
    return NewEvent(EventType.RUN_CREATED, None, data, "run:created")


def ev(
    type: str = EventType.STEP_STARTED,
    cid: str | None = "c1",
    key: str | None = None,
    data: bytes | None = None,
) -> NewEvent:
    return NewEvent(type, cid, data, key)


def hook(cid: str, token: str, metadata: bytes | None = None, kind: str = "hook") -> NewEvent:
    data = msgpack.packb({"token": token, "metadata": metadata, "kind": kind}, use_bin_type=True)
    return NewEvent(EventType.HOOK_CREATED, cid, data, f"{cid}:c")


def dispose(cid: str) -> NewEvent:
    return NewEvent(EventType.HOOK_DISPOSED, cid, None, f"{cid}:x")


def msg(run_id: str = "r1", key: str = "k1", kind: str = "workflow", **kw: Any) -> NewMessage:
    return NewMessage(kind, run_id, key, **kw)


async def start_run(world: Any, run_id: str = "r1", workflow_id: str = "wf") -> int:
    return int((await world.append(run_id, [created(workflow_id)])).seq)


async def woken_by(world: Any, topics: list[str], action: Callable[[int], Awaitable[Any]]) -> bool:
    """Wait on ``topics`` in one task while another runs ``action`` until the waiter wakes.

    The action repeats (paced, not timed) so backends whose waits arm asynchronously (e.g. a
    LISTEN round trip) are not raced; one action is enough for the in-process worlds.
    """
    result: list[bool] = []
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            result.append(await world.wait_for_change(topics, 10.0))
            tg.cancel_scope.cancel()

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        for i in range(1000):
            await action(i)
            await anyio.sleep(0.01)
    return result == [True]


# -- event log ---------------------------------------------------------------------------


async def test_append_assigns_dense_seqs_and_returns_last(world: Any, clock: FakeClock) -> None:
    assert (await world.append("r1", [created(), ev(cid="a")])).seq == 2
    clock.advance(1)
    assert (await world.append("r1", [ev(cid="b"), ev(cid="c", data=b"x"), ev(cid="d")])).seq == 5
    events = await world.read_events("r1")
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.correlation_id for e in events] == [None, "a", "b", "c", "d"]
    assert events[0].type == EventType.RUN_CREATED
    assert events[3].data == b"x" and events[1].data is None
    assert all(e.run_id == "r1" for e in events)
    assert events[0].created_at == pytest.approx(clock.now - 1)
    assert events[4].created_at == pytest.approx(clock.now)


async def test_seqs_are_per_run(world: Any) -> None:
    await world.append("r1", [ev(), ev()])
    assert (await world.append("r2", [ev()])).seq == 1
    assert [e.seq for e in await world.read_events("r2")] == [1]


async def test_read_events_after_seq(world: Any) -> None:
    await world.append("r1", [ev(cid=str(i)) for i in range(5)])
    assert [e.seq for e in await world.read_events("r1", after_seq=3)] == [4, 5]
    assert await world.read_events("r1", after_seq=5) == []
    assert await world.read_events("nope") == []


async def test_append_without_events_returns_last_seq(world: Any) -> None:
    assert (await world.append("r1", [], enqueue=[msg()])).seq == 0
    await world.append("r1", [ev()])
    assert (await world.append("r1", [])).seq == 1
    assert await world.get_message("k1") is not None


async def test_append_returns_the_ids_of_enqueued_messages(world: Any) -> None:
    first = await world.append("r1", [created()], enqueue=[msg(key="a"), msg(key="b")])
    a, b = await world.get_message("a"), await world.get_message("b")
    assert a is not None and b is not None
    assert first.message_ids == (a.id, b.id)
    # A key already live gives that row's id; a message leased to its creator too.
    again = await world.append(
        "r1", [ev()], enqueue=[msg(key="c", lease_to="w", lease_s=30), msg(key="a")]
    )
    c = await world.get_message("c")
    assert c is not None and c.owner == "w"
    assert again.message_ids == (c.id, a.id)
    assert (await world.append("r1", [ev()])).message_ids == ()


async def test_expect_seq_match_appends(world: Any) -> None:
    await start_run(world)
    assert (await world.append("r1", [ev()], expect_seq=1)).seq == 2
    assert (await world.append("r2", [ev()], expect_seq=0)).seq == 1


async def test_expect_seq_mismatch_writes_nothing(world: Any) -> None:
    await start_run(world)
    with pytest.raises(DuplicateEvent) as info:
        await world.append("r1", [ev()], enqueue=[msg()], expect_seq=0)
    assert info.value.dedup_key == "seq" and info.value.run_id == "r1"
    assert len(await world.read_events("r1")) == 1
    assert await world.get_message("k1") is None


async def test_duplicate_dedup_key_raises(world: Any) -> None:
    await world.append("r1", [ev(key="k")])
    with pytest.raises(DuplicateEvent) as info:
        await world.append("r1", [ev(key="k")])
    assert (info.value.run_id, info.value.dedup_key) == ("r1", "k")


async def test_duplicate_rolls_back_events_enqueue_and_ack(world: Any) -> None:
    await world.append("r1", [created()], enqueue=[msg(key="old")])
    old = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert old is not None
    with pytest.raises(DuplicateEvent):
        await world.append(
            "r1",
            [ev(cid="fine", key="fresh"), ev(cid="dup", key="run:created")],
            enqueue=[msg(key="new")],
            ack=[old.id],
        )
    assert [e.type for e in await world.read_events("r1")] == [EventType.RUN_CREATED]
    assert await world.get_message("new") is None
    still = await world.get_message("old")
    assert still is not None and still.owner == "w"
    assert (await world.append("r1", [ev(cid="fine", key="fresh")])).seq == 2  # key not taken


async def test_duplicate_within_one_append(world: Any) -> None:
    with pytest.raises(DuplicateEvent):
        await world.append("r1", [ev(key="k"), ev(key="k")])
    assert await world.read_events("r1") == []


async def test_dedup_keys_are_per_run(world: Any) -> None:
    await world.append("r1", [ev(key="k")])
    assert (await world.append("r2", [ev(key="k")])).seq == 1


async def test_events_without_dedup_key_never_collide(world: Any) -> None:
    await world.append("r1", [ev(), ev()])
    assert (await world.append("r1", [ev()])).seq == 3


# -- runs view ---------------------------------------------------------------------------


async def test_run_created_makes_a_pending_run(world: Any, clock: FakeClock) -> None:
    assert await world.get_run("r1") is None
    await world.append("r1", [created("my.wf", b"\x01\x02", seed=b"s")])
    run = await world.get_run("r1")
    assert run is not None
    assert (run.run_id, run.workflow_id, run.status, run.input) == (
        "r1",
        "my.wf",
        "pending",
        b"\x01\x02",
    )
    assert run.created_at == pytest.approx(clock.now)
    assert run.started_at is None and run.completed_at is None
    assert run.output is None and run.error is None


async def test_run_started_sets_running(world: Any, clock: FakeClock) -> None:
    await start_run(world)
    clock.advance(2)
    await world.append("r1", [ev(EventType.RUN_STARTED, None)])
    run = await world.get_run("r1")
    assert run.status == "running" and run.started_at == pytest.approx(clock.now)


async def test_run_completed_stores_output(world: Any, clock: FakeClock) -> None:
    await start_run(world)
    await world.append("r1", [ev(EventType.RUN_STARTED, None)])
    clock.advance(3)
    await world.append("r1", [ev(EventType.RUN_COMPLETED, None, data=b"result")])
    run = await world.get_run("r1")
    assert (run.status, run.output, run.error) == ("completed", b"result", None)
    assert run.completed_at == pytest.approx(clock.now)


async def test_run_failed_stores_error(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [ev(EventType.RUN_FAILED, None, data=b"boom")])
    run = await world.get_run("r1")
    assert (run.status, run.output, run.error) == ("failed", None, b"boom")
    assert run.completed_at is not None


async def test_run_cancelled(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [ev(EventType.RUN_CANCELLED, None)])
    assert (await world.get_run("r1")).status == "cancelled"


async def test_terminal_status_is_final(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [ev(EventType.RUN_COMPLETED, None, data=b"out")])
    await world.append("r1", [ev(EventType.RUN_STARTED, None), ev(EventType.RUN_FAILED, None)])
    run = await world.get_run("r1")
    assert (run.status, run.output, run.error) == ("completed", b"out", None)


# -- list_runs ---------------------------------------------------------------------------


async def test_list_runs_newest_first(world: Any, clock: FakeClock) -> None:
    for run_id in ["a", "b", "c"]:
        await start_run(world, run_id)
        clock.advance(1)
    await start_run(world, "e")
    await start_run(world, "d")  # same created_at as "e": ties go by run id, descending
    page = await world.list_runs()
    assert [r.run_id for r in page.runs] == ["e", "d", "c", "b", "a"]
    assert page.cursor is None


async def test_list_runs_filters(world: Any, clock: FakeClock) -> None:
    await start_run(world, "a", "wf1")
    await start_run(world, "b", "wf2")
    await start_run(world, "c", "wf1")
    await world.append("c", [ev(EventType.RUN_STARTED, None)])
    assert {r.run_id for r in (await world.list_runs(workflow_id="wf1")).runs} == {"a", "c"}
    assert [r.run_id for r in (await world.list_runs(status="running")).runs] == ["c"]
    page = await world.list_runs(workflow_id="wf1", status="pending")
    assert [r.run_id for r in page.runs] == ["a"]
    assert (await world.list_runs(workflow_id="nope")).runs == []


async def test_list_runs_cursor_pages(world: Any, clock: FakeClock) -> None:
    for i in range(7):
        await start_run(world, f"r{i}")
        if i % 2:
            clock.advance(1)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await world.list_runs(limit=3, cursor=cursor)
        pages += 1
        assert len(page.runs) <= 3
        seen += [r.run_id for r in page.runs]
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == [r.run_id for r in (await world.list_runs(limit=100)).runs]
    assert sorted(seen) == [f"r{i}" for i in range(7)]


async def test_list_runs_exact_page_has_no_cursor(world: Any) -> None:
    for run_id in ["a", "b"]:
        await start_run(world, run_id)
    page = await world.list_runs(limit=2)
    assert len(page.runs) == 2 and page.cursor is None


async def test_list_runs_paging_with_filter(world: Any, clock: FakeClock) -> None:
    for i in range(5):
        await start_run(world, f"r{i}", "even" if i % 2 == 0 else "odd")
        clock.advance(1)
    first = await world.list_runs(workflow_id="even", limit=2)
    assert [r.run_id for r in first.runs] == ["r4", "r2"]
    second = await world.list_runs(workflow_id="even", limit=2, cursor=first.cursor)
    assert [r.run_id for r in second.runs] == ["r0"] and second.cursor is None


# -- hooks -------------------------------------------------------------------------------


async def test_hook_created_registers_live_hook(world: Any, clock: FakeClock) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "tok", b"meta", "webhook")])
    found = await world.get_hook_by_token("tok")
    assert found is not None
    assert (found.run_id, found.correlation_id, found.token) == ("r1", "h1", "tok")
    assert (found.metadata, found.kind) == (b"meta", "webhook")
    assert found.created_at == pytest.approx(clock.now)
    assert await world.get_hook_by_token("other") is None


async def test_token_conflict_raises_and_writes_nothing(world: Any) -> None:
    await start_run(world, "r1")
    await start_run(world, "r2")
    await world.append("r1", [hook("h1", "tok")])
    with pytest.raises(TokenConflict) as info:
        await world.append("r2", [ev(cid="x"), hook("h9", "tok")], enqueue=[msg("r2", "k2")])
    assert (info.value.token, info.value.run_id) == ("tok", "r1")
    assert len(await world.read_events("r2")) == 1
    assert await world.get_message("k2") is None
    assert (await world.get_hook_by_token("tok")).run_id == "r1"


async def test_token_conflict_within_one_run(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    with pytest.raises(TokenConflict):
        await world.append("r1", [hook("h2", "tok")])


async def test_token_reusable_after_dispose(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    await world.append("r1", [dispose("h1")])
    assert await world.get_hook_by_token("tok") is None
    await world.append("r2", [hook("h1", "tok")])
    assert (await world.get_hook_by_token("tok")).run_id == "r2"


async def test_dispose_then_create_in_one_append(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    await world.append("r1", [dispose("h1"), hook("h2", "tok")])
    assert (await world.get_hook_by_token("tok")).correlation_id == "h2"


@pytest.mark.parametrize("end", sorted(EventType.RUN_TERMINAL))
async def test_token_reusable_after_run_end(world: Any, end: str) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "t1"), hook("h2", "t2")])
    await world.append("r1", [ev(end, None)])
    assert await world.list_hooks("r1") == []
    assert await world.get_hook_by_token("t1") is None
    await world.append("r2", [hook("h1", "t1")])
    assert (await world.get_hook_by_token("t1")).run_id == "r2"


async def test_list_hooks_oldest_first(world: Any, clock: FakeClock) -> None:
    await world.append("r1", [hook("h1", "b")])
    clock.advance(1)
    await world.append("r2", [hook("h1", "a")])
    clock.advance(1)
    await world.append("r1", [hook("h2", "c")])
    assert [h.token for h in await world.list_hooks()] == ["b", "a", "c"]
    assert [h.token for h in await world.list_hooks("r1")] == ["b", "c"]
    assert await world.list_hooks("r9") == []


async def test_deliver_hook_appends_and_enqueues(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "tok")])
    got = await world.deliver_hook(
        "tok", [ev(EventType.HOOK_RECEIVED, "h1", data=b"payload")], enqueue=[msg(key="wf:r1")]
    )
    assert got is not None and (got.run_id, got.correlation_id) == ("r1", "h1")
    events = await world.read_events("r1")
    assert (events[-1].seq, events[-1].type, events[-1].data) == (3, "hook_received", b"payload")
    assert (await world.get_message("wf:r1")).run_id == "r1"
    assert await world.get_hook_by_token("tok") is not None  # delivering does not dispose


async def test_deliver_hook_unknown_token_writes_nothing(world: Any) -> None:
    got = await world.deliver_hook("nope", [ev(EventType.HOOK_RECEIVED)], enqueue=[msg()])
    assert got is None
    assert await world.get_message("k1") is None


async def test_deliver_hook_duplicate_rolls_back(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    await world.deliver_hook("tok", [ev(EventType.HOOK_RECEIVED, "h1", key="once")])
    with pytest.raises(DuplicateEvent):
        await world.deliver_hook(
            "tok", [ev(EventType.HOOK_RECEIVED, "h1", key="once")], enqueue=[msg()]
        )
    assert len(await world.read_events("r1")) == 2
    assert await world.get_message("k1") is None


async def test_deliver_hook_after_run_end_returns_none(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    await world.append("r1", [ev(EventType.RUN_CANCELLED, None)])
    assert await world.deliver_hook("tok", [ev(EventType.HOOK_RECEIVED, "h1")]) is None


# -- terminal events ---------------------------------------------------------------------


async def test_terminal_event_cleans_up_the_run(world: Any) -> None:
    await start_run(world)
    await world.append("r1", [hook("h1", "tok")], enqueue=[msg(key="a"), msg(key="b")])
    await world.write_chunk("r1", "out", b"x")
    await start_run(world, "r2")
    await world.append("r2", [hook("h1", "other")], enqueue=[msg("r2", key="c")])
    await world.write_chunk("r2", "out", b"y")
    claimed = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert claimed is not None and claimed.key == "a"
    await world.append(
        "r1",
        [ev(EventType.RUN_COMPLETED, None, data=b"done")],
        ack=[claimed.id],
        enqueue=[msg(key="after")],
    )
    assert await world.get_hook_by_token("tok") is None
    assert await world.stream_info("r1", "out") == StreamInfo(0, True)
    assert await world.get_message("a") is None and await world.get_message("b") is None
    assert await world.get_message("after") is not None  # enqueued by the same append
    # other runs are untouched
    assert await world.get_hook_by_token("other") is not None
    assert await world.stream_info("r2", "out") == StreamInfo(0, False)
    assert await world.get_message("c") is not None


# -- queue -------------------------------------------------------------------------------


async def test_claim_leases_the_message(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg("r1", "k1", "step", payload=b"p")])
    got = await world.claim(["step"], worker_id="w1", lease_s=30)
    assert got is not None
    assert (got.kind, got.run_id, got.key, got.payload) == ("step", "r1", "k1", b"p")
    assert (got.deliveries, got.owner) == (1, "w1")
    assert got.lease_until == pytest.approx(clock.now + 30)
    assert got.not_before <= clock.now
    assert await world.claim(["step"], worker_id="w2", lease_s=30) is None
    leased = await world.get_message("k1")
    assert leased is not None and (leased.id, leased.owner) == (got.id, "w1")


async def test_claim_filters_kinds(world: Any) -> None:
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    await world.enqueue([msg(key="s", kind="step"), msg(key="t", kind="timer")])
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    got = await world.claim(["workflow", "timer"], worker_id="w", lease_s=30)
    assert got is not None and got.key == "t"


async def test_claim_order_earliest_not_before_then_fifo(world: Any, clock: FakeClock) -> None:
    now = clock.now
    await world.enqueue([msg(key="late", not_before=now - 1)])
    await world.enqueue([msg(key="first"), msg(key="second")])
    await world.enqueue([msg(key="early", not_before=now - 5)])
    order = []
    while (got := await world.claim(["workflow"], worker_id="w", lease_s=30)) is not None:
        order.append(got.key)
    assert order == ["early", "late", "first", "second"]


async def test_delayed_message_not_claimable_before_not_before(
    world: Any, clock: FakeClock
) -> None:
    await world.enqueue([msg(key="later", not_before=clock.now + 10)])
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    clock.advance(9.5)
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    clock.advance(0.5)
    got = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert got is not None and got.key == "later"


async def test_expired_lease_makes_message_claimable_again(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    first = await world.claim(["workflow"], worker_id="w1", lease_s=10)
    clock.advance(9)
    assert await world.claim(["workflow"], worker_id="w2", lease_s=10) is None
    clock.advance(2)
    second = await world.claim(["workflow"], worker_id="w2", lease_s=10)
    assert second is not None and second.id == first.id
    assert (second.deliveries, second.owner) == (2, "w2")
    assert second.lease_until == pytest.approx(clock.now + 10)


async def test_idempotent_enqueue_keeps_one_message(world: Any) -> None:
    await world.enqueue([msg(payload=b"one")])
    await world.enqueue([msg(payload=b"two")])
    await world.append("r1", [ev()], enqueue=[msg(payload=b"three")])
    got = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert got is not None and got.payload == b"one"
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None


async def test_enqueue_same_key_moves_pending_message_earlier(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg(not_before=clock.now + 100)])
    await world.enqueue([msg(not_before=clock.now + 200)])
    assert (await world.get_message("k1")).not_before == pytest.approx(clock.now + 100)
    await world.enqueue([msg()])
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is not None


async def test_ack_deletes_a_clean_message(world: Any) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w", lease_s=30)
    await world.ack([got.id])
    assert await world.get_message("k1") is None
    await world.ack([got.id, 999_999])  # unknown ids are ignored
    assert await world.next_due(["workflow"]) is None


async def test_dirty_message_is_reshown_on_ack(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w1", lease_s=30)
    await world.enqueue([msg()])  # while leased: no new row, marked dirty
    assert await world.claim(["workflow"], worker_id="w2", lease_s=30) is None
    await world.append("r1", [ev()], ack=[got.id])
    again = await world.claim(["workflow"], worker_id="w2", lease_s=30)
    assert again is not None and again.id == got.id and again.owner == "w2"
    await world.ack([again.id])
    assert await world.get_message("k1") is None


async def test_a_step_recorded_with_the_next_one_leaves_no_stale_id(world: Any) -> None:
    """Ack a leased message and enqueue a leased one in one append (how a worker records a
    step together with its run's next step): the old id is dead for every later call, and a
    stale ack, release or lease extension of it leaves the new message alone."""
    await world.enqueue([msg(kind="step", key="s1")])
    old = await world.claim(["step"], worker_id="w", lease_s=30)
    assert old is not None
    appended = await world.append(
        "r1",
        [ev(EventType.STEP_COMPLETED, key="c1:d")],
        ack=[old.id],
        enqueue=[msg(kind="step", key="s2", payload=b"p2", lease_to="w", lease_s=30)],
    )
    (new_id,) = appended.message_ids
    assert new_id != old.id
    assert await world.get_message("s1") is None
    new = await world.get_message("s2")
    assert new is not None and (new.id, new.owner, new.payload) == (new_id, "w", b"p2")
    assert await world.extend_lease(old.id, lease_s=60) is False
    await world.release(old.id, not_before=0)
    await world.ack([old.id])
    still = await world.get_message("s2")
    assert still is not None and (still.id, still.owner) == (new_id, "w")
    assert await world.extend_lease(new_id, lease_s=60) is True
    await world.ack([new_id])
    assert await world.get_message("s2") is None


async def test_a_step_recorded_with_a_next_message_whose_key_is_live(world: Any) -> None:
    """The same append when the new message's key already has a live message: the usual
    enqueue rules apply to it (the pending one is leased to the writer) and the old one goes."""
    await world.enqueue([msg(kind="step", key="s1"), msg(kind="step", key="s2", payload=b"p")])
    old = await world.claim(["step"], worker_id="w", lease_s=30)
    assert old is not None and old.key == "s1"
    appended = await world.append(
        "r1",
        [ev(EventType.STEP_COMPLETED, key="c1:d")],
        ack=[old.id],
        enqueue=[msg(kind="step", key="s2", payload=b"p", lease_to="w", lease_s=30)],
    )
    assert await world.get_message("s1") is None
    live = await world.get_message("s2")
    assert live is not None and appended.message_ids == (live.id,) and live.owner == "w"


async def test_dirty_message_reshown_at_requested_time(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w1", lease_s=30)
    await world.enqueue([msg(not_before=clock.now + 50)])
    await world.ack([got.id])
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    assert await world.next_due(["workflow"]) == pytest.approx(clock.now + 50)
    clock.advance(50)
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is not None


async def test_claim_clears_dirty(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    await world.claim(["workflow"], worker_id="w1", lease_s=10)
    await world.enqueue([msg()])  # dirty
    clock.advance(11)  # w1 lost its lease; w2 starts after the enqueue, so it covers it
    second = await world.claim(["workflow"], worker_id="w2", lease_s=10)
    await world.ack([second.id])
    assert await world.get_message("k1") is None


async def test_dirty_mark_survives_lease_expiry_until_claimed(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w1", lease_s=10)
    clock.advance(11)
    await world.enqueue([msg()])  # leased (expired, unclaimed since): still dirty
    await world.ack([got.id])
    assert await world.claim(["workflow"], worker_id="w2", lease_s=10) is not None


async def test_lease_to_creates_a_leased_message(world: Any, clock: FakeClock) -> None:
    await world.append("r1", [ev()], enqueue=[msg(key="s", kind="step", lease_to="me", lease_s=20)])
    got = await world.get_message("s")
    assert got is not None and (got.owner, got.deliveries) == ("me", 1)
    assert got.lease_until == pytest.approx(clock.now + 20)
    assert await world.claim(["step"], worker_id="other", lease_s=20) is None
    clock.advance(21)
    again = await world.claim(["step"], worker_id="other", lease_s=20)
    assert again is not None and again.id == got.id and again.deliveries == 2


async def test_lease_to_on_pending_message_leases_it(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg(key="s", kind="step")])
    await world.enqueue([msg(key="s", kind="step", lease_to="me", lease_s=20)])
    got = await world.get_message("s")
    assert (got.owner, got.deliveries) == ("me", 1)
    assert await world.claim(["step"], worker_id="other", lease_s=20) is None


async def test_release_makes_message_visible_later(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w", lease_s=30)
    await world.release(got.id, not_before=clock.now + 5)
    released = await world.get_message("k1")
    assert released.owner is None and released.not_before == pytest.approx(clock.now + 5)
    assert await world.claim(["workflow"], worker_id="w", lease_s=30) is None
    clock.advance(5)
    again = await world.claim(["workflow"], worker_id="w", lease_s=30)
    assert again is not None and again.deliveries == 2


async def test_extend_lease(world: Any, clock: FakeClock) -> None:
    await world.enqueue([msg()])
    got = await world.claim(["workflow"], worker_id="w", lease_s=10)
    clock.advance(8)
    assert await world.extend_lease(got.id, lease_s=10) is True
    clock.advance(8)
    assert await world.claim(["workflow"], worker_id="x", lease_s=10) is None
    assert (await world.get_message("k1")).lease_until == pytest.approx(clock.now + 2)
    await world.ack([got.id])
    assert await world.extend_lease(got.id, lease_s=10) is False
    assert await world.extend_lease(123_456, lease_s=10) is False


async def test_next_due(world: Any, clock: FakeClock) -> None:
    assert await world.next_due(["workflow"]) is None
    await world.enqueue([msg(key="a", not_before=clock.now + 30)])
    await world.enqueue([msg(key="b", not_before=clock.now + 20, kind="timer")])
    assert await world.next_due(["workflow"]) == pytest.approx(clock.now + 30)
    assert await world.next_due(["workflow", "timer"]) == pytest.approx(clock.now + 20)
    await world.enqueue([msg(key="c")])
    now = clock.now
    leased = await world.claim(["workflow"], worker_id="w", lease_s=100)
    assert leased.key == "c"
    assert await world.next_due(["workflow"]) == pytest.approx(now + 30)  # leased: ignored


async def test_message_ids_are_never_reused(world: Any) -> None:
    await world.enqueue([msg(key="a")])
    first = await world.claim(["workflow"], worker_id="w", lease_s=30)
    await world.ack([first.id])
    await world.enqueue([msg(key="a")])
    second = await world.get_message("a")
    assert second.id > first.id and second.deliveries == 0


async def test_get_message(world: Any, clock: FakeClock) -> None:
    assert await world.get_message("k1") is None
    await world.enqueue([msg(payload=b"p", not_before=clock.now + 1)])
    got = await world.get_message("k1")
    assert (got.key, got.payload, got.owner, got.deliveries) == ("k1", b"p", None, 0)
    assert got.not_before == pytest.approx(clock.now + 1)


async def test_list_leases(world: Any, clock: FakeClock) -> None:
    assert await world.list_leases() == []
    await world.enqueue([msg(key="a"), msg(key="b", kind="step"), msg(key="c")])
    await world.append("r1", [ev()], enqueue=[msg(key="d", kind="step", lease_to="w2", lease_s=5)])
    a = await world.claim(["workflow"], worker_id="w1", lease_s=10)
    b = await world.claim(["step"], worker_id="w1", lease_s=20)
    assert (a.key, b.key) == ("a", "b")
    leases = await world.list_leases()
    assert [(m.key, m.owner) for m in leases] == [("a", "w1"), ("b", "w1"), ("d", "w2")]
    assert leases[0].lease_until == pytest.approx(clock.now + 10)
    assert leases[2].kind == "step" and leases[2].deliveries == 1
    clock.advance(6)  # d's lease expired: no longer held
    assert [m.key for m in await world.list_leases()] == ["a", "b"]
    await world.ack([a.id])
    await world.release(b.id, not_before=clock.now)
    assert await world.list_leases() == []


# -- streams -----------------------------------------------------------------------------


async def test_write_and_read_chunks(world: Any, clock: FakeClock) -> None:
    assert [await world.write_chunk("r1", "out", bytes([i])) for i in range(5)] == [0, 1, 2, 3, 4]
    chunks = await world.read_chunks("r1", "out")
    assert [(c.index, c.data) for c in chunks] == [(i, bytes([i])) for i in range(5)]
    assert chunks[0].created_at == pytest.approx(clock.now)
    assert [c.index for c in await world.read_chunks("r1", "out", start=3)] == [3, 4]
    assert [c.index for c in await world.read_chunks("r1", "out", start=1, limit=2)] == [1, 2]
    assert await world.read_chunks("r1", "out", start=5) == []
    assert await world.read_chunks("r1", "nope") == []


async def test_stream_info(world: Any) -> None:
    assert await world.stream_info("r1", "out") == StreamInfo(-1, False)
    await world.write_chunk("r1", "out", b"a")
    await world.write_chunk("r1", "out", b"b")
    assert await world.stream_info("r1", "out") == StreamInfo(1, False)
    await world.close_stream("r1", "out")
    assert await world.stream_info("r1", "out") == StreamInfo(1, True)


async def test_closed_stream_refuses_writes(world: Any) -> None:
    await world.write_chunk("r1", "out", b"a")
    await world.close_stream("r1", "out")
    await world.close_stream("r1", "out")  # idempotent
    with pytest.raises(WorldError):
        await world.write_chunk("r1", "out", b"b")
    assert [c.data for c in await world.read_chunks("r1", "out")] == [b"a"]


async def test_close_unknown_stream_creates_it_closed(world: Any) -> None:
    await world.close_stream("r1", "empty")
    assert await world.stream_info("r1", "empty") == StreamInfo(-1, True)
    assert await world.list_streams("r1") == ["empty"]
    with pytest.raises(WorldError):
        await world.write_chunk("r1", "empty", b"x")


async def test_streams_are_per_run_and_namespace(world: Any) -> None:
    await world.write_chunk("r1", "a", b"1")
    await world.write_chunk("r1", "b", b"2")
    assert await world.write_chunk("r2", "a", b"3") == 0
    assert sorted(await world.list_streams("r1")) == ["a", "b"]
    assert await world.list_streams("r2") == ["a"]
    assert await world.list_streams("r3") == []
    assert [c.data for c in await world.read_chunks("r2", "a")] == [b"3"]


# -- change notification -----------------------------------------------------------------


async def test_wait_times_out_without_change(world: Any) -> None:
    start = time.monotonic()
    assert await world.wait_for_change(["run:nobody"], 0.05) is False
    assert time.monotonic() - start >= 0.04


async def test_wait_woken_by_append(world: Any) -> None:
    await start_run(world)
    assert await woken_by(world, ["run:r1"], lambda i: world.append("r1", [ev(cid=f"c{i}")]))


async def test_done_topic_woken_when_the_run_ends(world: Any) -> None:
    await start_run(world)
    end = ev(EventType.RUN_CANCELLED, None)
    assert await woken_by(world, ["done:r1"], lambda i: world.append("r1", [end]))
    assert (await world.get_run("r1")).status == "cancelled"


async def test_wait_woken_by_enqueue(world: Any) -> None:
    assert await woken_by(world, ["queue"], lambda i: world.enqueue([msg(key=f"k{i}")]))


async def test_wait_woken_by_append_enqueue(world: Any) -> None:
    assert await woken_by(
        world, ["queue"], lambda i: world.append(f"r{i}", [ev()], enqueue=[msg(key=f"k{i}")])
    )


async def test_wait_woken_by_dirty_ack(world: Any) -> None:
    async def reshow(i: int) -> None:
        await world.enqueue([msg(key=f"k{i}")])
        got = await world.claim(["workflow"], worker_id="w", lease_s=30)
        await world.enqueue([msg(key=f"k{i}")])
        await world.ack([got.id])

    # the enqueues also wake "queue"; what matters is that the whole dance does
    assert await woken_by(world, ["queue"], reshow)


async def test_wait_woken_by_write_chunk(world: Any) -> None:
    assert await woken_by(world, ["stream:r1:out"], lambda i: world.write_chunk("r1", "out", b"x"))


async def test_wait_woken_by_close_stream(world: Any) -> None:
    assert await woken_by(world, ["stream:r1:out"], lambda i: world.close_stream("r1", "out"))


async def test_wait_woken_by_run_end_closing_stream(world: Any) -> None:
    await world.write_chunk("r1", "out", b"x")

    async def end(i: int) -> None:
        if i == 0:
            await world.append("r1", [ev(EventType.RUN_COMPLETED, None, key="end")])

    assert await woken_by(world, ["stream:r1:out"], end)


async def test_wait_woken_by_deliver_hook(world: Any) -> None:
    await world.append("r1", [hook("h1", "tok")])
    assert await woken_by(
        world, ["run:r1"], lambda i: world.deliver_hook("tok", [ev(EventType.HOOK_RECEIVED)])
    )


async def test_wait_on_several_topics(world: Any) -> None:
    assert await woken_by(
        world, ["run:a", "stream:b:c", "queue"], lambda i: world.write_chunk("b", "c", b"x")
    )


async def test_setup_is_idempotent(world: Any) -> None:
    await start_run(world)
    await world.setup()
    assert (await world.get_run("r1")) is not None
    assert isinstance(world.url, str)


__all__ = ["FakeClock"] + [name for name in dir() if name.startswith("test_")]
