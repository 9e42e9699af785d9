"""What the database guarantees under concurrency: each test races real transactions.

Racers use separate worlds (separate pools, so separate server backends) and start together
behind an ``anyio.Event``; the assertions hold whatever the interleaving.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgpack
import psycopg
import pytest

from wdk.worlds.base import (
    Appended,
    DuplicateEvent,
    EventType,
    NewEvent,
    NewMessage,
    TokenConflict,
)

pytestmark = pytest.mark.anyio


def run_created(workflow_id: str = "wf") -> NewEvent:
    data = msgpack.packb({"workflow_id": workflow_id, "input": b""})
    return NewEvent(EventType.RUN_CREATED, data=data, dedup_key="created")


def hook_created(cid: str, token: str) -> NewEvent:
    data = msgpack.packb({"token": token, "metadata": None, "kind": "hook"})
    return NewEvent(EventType.HOOK_CREATED, cid, data, f"{cid}:created")


async def race(*fns: Any) -> list[Any]:
    """Run ``fns`` together from one starting gun; each result or the exception it raised."""
    go = anyio.Event()
    results: list[Any] = [None] * len(fns)

    async def one(i: int) -> None:
        await go.wait()
        try:
            results[i] = await fns[i]()
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(fns)):
            tg.start_soon(one, i)
        go.set()
    return results


async def test_live_token_race_has_exactly_one_winner(make_world: Any) -> None:
    worlds = [await make_world(pool_max=20) for _ in range(2)]
    for n in range(20):
        token = f"tok-{n}"
        results = await race(
            *[
                lambda w=w, i=i, n=n, token=token: w.append(
                    f"run-{n}-{i}", [hook_created("c1", token)]
                )
                for i, w in enumerate(worlds)
            ]
        )
        winners = [i for i, r in enumerate(results) if isinstance(r, Appended)]
        losers = [r for r in results if isinstance(r, TokenConflict)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].token == token
        assert losers[0].run_id == f"run-{n}-{winners[0]}"
        hook = await worlds[0].get_hook_by_token(token)
        assert hook is not None and hook.run_id == f"run-{n}-{winners[0]}"
        # The loser's whole append was rolled back.
        assert await worlds[0].read_events(f"run-{n}-{1 - winners[0]}") == []


async def test_partial_unique_index_is_the_enforcer(world: Any, pg_url: str, schema: str) -> None:
    await world.append("r1", [hook_created("c1", "tok")])
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        insert = (
            f'INSERT INTO "{schema}".hooks (run_id, correlation_id, token, kind, created_at)'
            " VALUES ('r2', 'c', 'tok', 'hook', 0)"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute(insert)  # type: ignore[arg-type]
        # Disposed hooks are outside the index: the token is free again.
        await world.append("r1", [NewEvent(EventType.HOOK_DISPOSED, "c1")])
        await conn.execute(insert)  # type: ignore[arg-type]


async def test_disposed_token_can_be_reused_by_another_run(world: Any) -> None:
    await world.append("r1", [hook_created("c1", "tok")])
    with pytest.raises(TokenConflict) as info:
        await world.append("r2", [hook_created("c9", "tok")])
    assert info.value.run_id == "r1"
    await world.append("r1", [NewEvent(EventType.HOOK_DISPOSED, "c1")])
    await world.append("r2", [hook_created("c9", "tok")])
    hook = await world.get_hook_by_token("tok")
    assert hook is not None and hook.run_id == "r2"


async def test_concurrent_claims_never_share_a_message(make_world: Any) -> None:
    worlds = [await make_world(pool_max=4) for _ in range(4)]
    await worlds[0].enqueue([NewMessage("step", f"r{i}", f"k{i}") for i in range(60)])
    claimed: list[int] = []

    async def drain(w: Any, worker: str) -> None:
        while (msg := await w.claim(["step"], worker_id=worker, lease_s=60)) is not None:
            assert msg.owner == worker and msg.deliveries == 1
            claimed.append(msg.id)

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(drain, worlds[i % 4], f"w{i}")
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


async def test_step_completion_is_recorded_once_under_race(make_world: Any) -> None:
    """Two workers finish the same step (the first one's lease had expired): one record."""
    worlds = [await make_world() for _ in range(2)]
    await worlds[0].append("run", [run_created()])
    for n in range(15):
        cid = f"step-{n}"
        await worlds[0].append("run", [NewEvent(EventType.STEP_CREATED, cid, b"", f"{cid}:c")])
        results = await race(
            *[
                lambda w=w, i=i, cid=cid: w.append(
                    "run",
                    [NewEvent(EventType.STEP_COMPLETED, cid, f"by {i}".encode(), f"{cid}:done")],
                    enqueue=[NewMessage("workflow", "run", f"next:{cid}:{i}")],
                )
                for i, w in enumerate(worlds)
            ]
        )
        winners = [i for i, r in enumerate(results) if isinstance(r, Appended)]
        losers = [r for r in results if isinstance(r, DuplicateEvent)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].dedup_key == f"{cid}:done"
        # The loser's enqueue went down with its event.
        assert await worlds[0].get_message(f"next:{cid}:{winners[0]}") is not None
        assert await worlds[0].get_message(f"next:{cid}:{1 - winners[0]}") is None
    events = await worlds[0].read_events("run")
    done = [e for e in events if e.type == EventType.STEP_COMPLETED]
    assert len(done) == 15
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_concurrent_appenders_get_dense_seqs(make_world: Any) -> None:
    worlds = [await make_world(pool_max=5) for _ in range(3)]

    async def appender(w: Any, i: int) -> None:
        for j in range(8):
            await w.append("run", [NewEvent("note", f"{i}.{j}"), NewEvent("note", f"{i}.{j}b")])

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(appender, worlds[i % 3], i)
    events = await worlds[0].read_events("run")
    assert [e.seq for e in events] == list(range(1, 12 * 8 * 2 + 1))
    # An append's events are contiguous.
    for first, second in zip(events[::2], events[1::2], strict=True):
        assert second.correlation_id == f"{first.correlation_id}b"


async def test_expect_seq_lets_one_of_two_advancers_win(make_world: Any) -> None:
    worlds = [await make_world() for _ in range(2)]
    await worlds[0].append("run", [run_created()])
    for _ in range(10):
        base = len(await worlds[0].read_events("run"))
        results = await race(
            *[
                lambda w=w, base=base: w.append("run", [NewEvent("note")], expect_seq=base)
                for w in worlds
            ]
        )
        assert sorted(type(r).__name__ for r in results) == ["Appended", "DuplicateEvent"]
        assert [r.dedup_key for r in results if isinstance(r, DuplicateEvent)] == ["seq"]
        assert len(await worlds[0].read_events("run")) == base + 1


async def test_concurrent_writers_get_distinct_chunk_indexes(make_world: Any) -> None:
    worlds = [await make_world(pool_max=4) for _ in range(2)]

    async def writer(w: Any, i: int) -> None:
        for j in range(10):
            await w.write_chunk("run", "out", f"{i}.{j}".encode())

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(writer, worlds[i % 2], i)
    chunks = await worlds[0].read_chunks("run", "out")
    assert [c.index for c in chunks] == list(range(80))
    assert len({c.data for c in chunks}) == 80
    assert (await worlds[0].stream_info("run", "out")).tail_index == 79


async def test_deliver_hook_races_run_end(make_world: Any) -> None:
    """A delivery and the run's end: either the delivery lands before the end, or not at all."""
    worlds = [await make_world() for _ in range(2)]
    for n in range(10):
        run = f"run-{n}"
        await worlds[0].append(run, [run_created(), hook_created("h", f"t{n}")])
        results = await race(
            lambda n=n: worlds[0].deliver_hook(
                f"t{n}", [NewEvent(EventType.HOOK_RECEIVED, "h", b"payload")]
            ),
            lambda run=run: worlds[1].append(run, [NewEvent(EventType.RUN_COMPLETED, data=b"")]),
        )
        types = [e.type for e in await worlds[0].read_events(run)]
        assert not isinstance(results[0], Exception), results
        if results[0] is None:
            assert EventType.HOOK_RECEIVED not in types
        else:
            assert types.index(EventType.HOOK_RECEIVED) < types.index(EventType.RUN_COMPLETED)
        assert await worlds[0].get_hook_by_token(f"t{n}") is None
