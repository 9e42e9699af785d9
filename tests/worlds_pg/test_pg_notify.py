"""LISTEN/NOTIFY: commits wake waiters in other connections and processes, without polling.

Waiters here use a fallback poll far longer than the test's deadline, so only a notification
can wake them: a missed one fails the test instead of passing slowly.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import anyio
import psycopg
import pytest

from wdk.worlds._pg_notify import channel_for
from wdk.worlds.base import NewEvent, NewMessage

pytestmark = pytest.mark.anyio

NO_POLL = 3600.0


async def _waiter_ready(world: Any, topic: str) -> None:
    """Wait until ``world``'s listener is LISTENing on ``topic`` (it then stays so)."""
    await world._listener.subscribe([topic])


async def test_commit_in_another_pool_wakes_waiter(make_world: Any) -> None:
    waiter = await make_world(poll_interval=NO_POLL)
    writer = await make_world()
    await _waiter_ready(waiter, "done:r1")
    woken: list[bool] = []

    async def wait() -> None:
        woken.append(await waiter.wait_for_change(["done:r1"], 60))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await writer.append("r1", [NewEvent("run_cancelled")])
    assert woken == [True]


async def test_run_topic_wakes_other_processes_only_by_the_fallback_poll(
    make_world: Any,
) -> None:
    # A NOTIFY per appended event would serialize every commit in the cluster.
    waiter = await make_world(poll_interval=NO_POLL)
    writer = await make_world()
    await _waiter_ready(waiter, "run:r1")
    woken: list[bool] = []

    async def wait() -> None:
        woken.append(await waiter.wait_for_change(["run:r1"], 0.5))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        await writer.append("r1", [NewEvent("note")])
    assert woken == [False]


async def test_each_topic_kind_is_notified(make_world: Any) -> None:
    waiter = await make_world(poll_interval=NO_POLL)
    writer = await make_world()
    actions = {
        "queue": lambda: writer.enqueue([NewMessage("workflow", "r", "k")]),
        "done:r": lambda: writer.append("r", [NewEvent("run_cancelled")]),
        "stream:r:out": lambda: writer.write_chunk("r", "out", b"x"),
        "stream:r:log": lambda: writer.close_stream("r", "log"),
    }
    for topic, action in actions.items():
        await _waiter_ready(waiter, topic)
        woken: list[bool] = []

        async def wait(topic: str = topic, woken: list[bool] = woken) -> None:
            woken.append(await waiter.wait_for_change([topic], 60))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                await action()
        assert woken == [True], topic


async def test_local_commit_wakes_waiter_without_listen(world: Any) -> None:
    woken: list[bool] = []

    async def wait() -> None:
        woken.append(await world.wait_for_change(["run:r1", "queue"], 60))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await world.append("r1", [NewEvent("note")])
    assert woken == [True]


async def test_timeout_without_change_returns_false(make_world: Any) -> None:
    world = await make_world(poll_interval=NO_POLL)
    assert await world.wait_for_change(["run:nothing"], 0.05) is False
    assert await world.wait_for_change(["run:nothing"], 0) is False


async def test_fallback_poll_reports_a_possible_change(make_world: Any) -> None:
    world = await make_world(poll_interval=0.05)
    assert await world.wait_for_change(["run:nothing"], 60) is True


async def test_waiter_in_another_process_is_woken(
    make_world: Any, pg_url: str, schema: str
) -> None:
    writer = await make_world()
    code = textwrap.dedent(
        """
        import sys, anyio
        from wdk.worlds.postgres import PostgresWorld

        async def main():
            world = PostgresWorld(sys.argv[1], schema=sys.argv[2], poll_interval=3600)
            await world.setup()
            await world._listener.subscribe(["done:x"])
            print("ready", flush=True)
            print(await world.wait_for_change(["done:x"], 60), flush=True)
            await world.close()

        anyio.run(main)
        """
    )
    proc = await anyio.open_process([sys.executable, "-c", code, pg_url, schema])
    assert proc.stdout is not None
    try:
        with anyio.fail_after(30):
            lines = _lines(proc.stdout)
            assert await anext(lines) == "ready"
            await writer.append("x", [NewEvent("run_cancelled")])
            assert await anext(lines) == "True"
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.aclose()


async def _lines(stream: Any) -> Any:
    buffer = b""
    async for data in stream:
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode().strip()


async def test_lost_listen_connection_wakes_waiters_and_recovers(
    make_world: Any, pg_url: str
) -> None:
    waiter = await make_world(poll_interval=NO_POLL)
    writer = await make_world()
    await _waiter_ready(waiter, "queue")
    woken: list[bool] = []

    async def wait() -> None:
        woken.append(await waiter.wait_for_change(["queue"], 60))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as c:
                pid = waiter._listener.backend_pid
                await c.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # Notifications may have been lost with the connection: every waiter re-checks.
    assert woken == [True]
    # The listener reconnects and LISTENs again.
    await _waiter_ready(waiter, "queue")
    woken.clear()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            await writer.enqueue([NewMessage("workflow", "r", "k")])
    assert woken == [True]


def test_channel_names_fit_and_separate_schemas() -> None:
    long_topic = "stream:" + "r" * 300 + ":" + "n" * 300
    assert len(channel_for("wdk", long_topic)) <= 63
    assert channel_for("a", "queue") != channel_for("b", "queue")
    assert channel_for("a", "run:1") != channel_for("a", "run:2")


async def test_dirty_ack_and_release_notify_other_pools(make_world: Any) -> None:
    waiter = await make_world(poll_interval=NO_POLL)
    writer = await make_world()
    await _waiter_ready(waiter, "queue")
    await writer.enqueue([NewMessage("workflow", "r", "wf:r"), NewMessage("step", "r", "s")])
    wf = await writer.claim(["workflow"], worker_id="w", lease_s=60)
    step = await writer.claim(["step"], worker_id="w", lease_s=60)
    await writer.enqueue([NewMessage("workflow", "r", "wf:r")])  # marks wf dirty
    for action in (lambda: writer.ack([wf.id]), lambda: writer.release(step.id, not_before=0)):
        woken: list[bool] = []

        async def wait(woken: list[bool] = woken) -> None:
            woken.append(await waiter.wait_for_change(["queue"], 60))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                await action()
        assert woken == [True]
