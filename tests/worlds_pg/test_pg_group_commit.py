"""Group commit on PostgreSQL: concurrent appends of one process share one statement, and each
stays all-or-nothing on its own."""

from __future__ import annotations

from typing import Any

import anyio
import msgpack
import pytest

from wdk.errors import WorldError
from wdk.worlds.base import Appended, DuplicateEvent, EventType, NewEvent, NewMessage

pytestmark = pytest.mark.anyio


def created() -> NewEvent:
    data = msgpack.packb({"workflow_id": "wf", "input": b""})
    return NewEvent(EventType.RUN_CREATED, data=data, dedup_key="created")


async def together(
    world: Any, appends: list[tuple[str, list[NewEvent], dict[str, Any]]]
) -> list[Any]:
    """Make the appends at once behind one in flight, so they go out as one batch."""
    sizes: list[int] = []
    send = world._log.append_batch

    async def spy(conn: Any, requests: Any, **kw: Any) -> Any:
        sizes.append(len(requests))
        return await send(conn, requests, **kw)

    world._log.append_batch = spy
    results: list[Any] = [None] * len(appends)

    async def one(i: int) -> None:
        run_id, events, kw = appends[i]
        try:
            results[i] = await world.append(run_id, events, **kw)
        except Exception as exc:  # noqa: BLE001 - each append's outcome, whatever it is
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(appends)):
            tg.start_soon(one, i)
    world._log.append_batch = send
    assert max(sizes) > 1, sizes  # some appends did share a statement
    return results


async def test_appends_made_at_once_share_a_batch_and_a_duplicate_fails_alone(
    world: Any,
) -> None:
    for i in range(6):
        await world.append(f"r{i}", [created()])
    appends = [
        (
            f"r{i}",
            [NewEvent("note", f"c{i}", b"x", f"note:{i}")],
            {"enqueue": [NewMessage("workflow", f"r{i}", f"wf:r{i}")]},
        )
        for i in range(6)
    ]
    appends.insert(3, ("r0", [NewEvent("note", "again", None, "created")], {}))
    results = await together(world, appends)
    assert isinstance(results[3], DuplicateEvent) and results[3].dedup_key == "created"
    written = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, Appended) and r.seq == 2 for r in written), written
    for i in range(6):
        events = await world.read_events(f"r{i}")
        assert [e.correlation_id for e in events] == [None, f"c{i}"]
        message = await world.get_message(f"wf:r{i}")
        assert message is not None and (message.id,) == written[i].message_ids
    # The refused append left nothing behind.
    assert len(await world.read_events("r0")) == 2


async def test_two_appends_to_one_run_in_one_batch_keep_their_order_and_guards(
    world: Any,
) -> None:
    await world.append("run", [created()])
    appends = [
        ("other", [created()], {}),
        ("run", [NewEvent("note", "a")], {"expect_seq": 1}),
        ("run", [NewEvent("note", "b")], {"expect_seq": 1}),  # lost the race to "a"
        ("run", [NewEvent("note", "c")], {"expect_seq": 2}),
    ]
    results = await together(world, appends)
    assert [type(r).__name__ for r in results] == [
        "Appended",
        "Appended",
        "DuplicateEvent",
        "Appended",
    ]
    assert results[2].dedup_key == "seq"
    events = await world.read_events("run")
    assert [(e.seq, e.correlation_id) for e in events] == [(1, None), (2, "a"), (3, "c")]


async def test_only_what_must_be_durable_waits_for_the_wal_flush(world: Any) -> None:
    async with world._conn() as conn:
        server = await (
            await conn.execute(
                "SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
            )
        ).fetchone()
        # A pool connection commits claims, acks and lease extensions without waiting...
        assert (await (await conn.execute("SHOW synchronous_commit")).fetchone())[0] == "off"
        # ...while an append commits at the server's own level, or off when it need not.
        for durable, level in ((True, server[0]), (False, "off")):
            async with conn.transaction():
                await world._log.append_batch(
                    conn,
                    [{"r": f"r-{durable}", "e": [], "s": False, "x": None, "a": [], "m": []}],
                    synchronous_commit=world._sync(durable),
                    now=0.0,
                )
                shown = await (await conn.execute("SHOW synchronous_commit")).fetchone()
                assert shown[0] == level


async def test_an_append_the_server_refuses_fails_alone(world: Any) -> None:
    # PostgreSQL text cannot hold NUL: the batch holding this append fails as a whole, and the
    # world sends its appends again one by one.
    appends = [(f"r{i}", [NewEvent("note", f"c{i}")], {}) for i in range(4)]
    appends.insert(2, ("bad", [NewEvent("note", "nul\x00here")], {}))
    results = await together(world, appends)
    assert isinstance(results[2], WorldError), results[2]
    message = str(results[2])
    assert "append to run 'bad' failed" in message and "\\u0000 cannot be converted" in message
    assert [r.seq for i, r in enumerate(results) if i != 2] == [1, 1, 1, 1]
    assert await world.read_events("bad") == []
