"""SQLite-only behaviour: the file, its pragmas, and several OS processes on one database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from wdk.errors import WorldError
from wdk.worlds import open_world
from wdk.worlds._sqlite_schema import bucket
from wdk.worlds.base import NewEvent, NewMessage
from wdk.worlds.sqlite import SqliteWorld

pytestmark = pytest.mark.anyio

# A child process: open the file and do one job; prints a JSON result on stdout.
CHILD = textwrap.dedent(
    """
    import anyio, json, sys
    from wdk.worlds.base import NewEvent
    from wdk.worlds.sqlite import SqliteWorld

    path, job, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    async def main():
        world = SqliteWorld(path)
        await world.setup()
        print("ready", flush=True)
        sys.stdin.readline()  # start together: the parent says go once every child is ready
        out = []
        try:
            if job == "append":
                for i in range(n):
                    await world.append("shared", [NewEvent("step_started", f"{tag}:{i}")])
            elif job == "claim":
                while (m := await world.claim(["step"], worker_id=tag, lease_s=60)) is not None:
                    out.append(m.key)
                    await world.ack([m.id])
            elif job == "ping":
                for i in range(n):
                    await world.write_chunk(tag, "out", str(i).encode())
                    await anyio.sleep(0.005)
        finally:
            await world.close()
        print(json.dumps(out))

    anyio.run(main)
    """
)


@contextmanager
def children(db: Path, job: str, tags: list[str], n: int) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), job, tag, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in tags
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def results(procs: list[subprocess.Popen[str]]) -> list[list[str]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout))
    return out


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[SqliteWorld]:
    w = SqliteWorld(tmp_path / "db" / "wdk.db")
    await w.setup()
    try:
        yield w
    finally:
        await w.close()


async def test_setup_creates_file_and_parent_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "wdk.db"
    world = SqliteWorld(path)
    assert not path.parent.exists()  # opening does no I/O
    await world.setup()
    await world.setup()
    try:
        assert path.exists()
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
    finally:
        await world.close()


@pytest.mark.parametrize(("query", "level"), [("", 2), ("?synchronous=normal", 1)])
async def test_synchronous_setting(tmp_path: Path, query: str, level: int) -> None:
    world = open_world(f"sqlite:///{tmp_path / 'wdk.db'}{query}")
    await world.setup()
    try:
        assert isinstance(world, SqliteWorld)
        assert world._query("PRAGMA synchronous") == [(level,)]
    finally:
        await world.close()


def test_bad_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="synchronous"):
        SqliteWorld(tmp_path / "wdk.db", synchronous="off")


async def test_closed_world_refuses_calls(world: SqliteWorld) -> None:
    await world.close()
    with pytest.raises(WorldError, match="closed"):
        await world.get_run("r1")


async def test_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wdk.db"
    first = SqliteWorld(path)
    await first.append("r1", [NewEvent("step_started", "c1", b"x", "k")])
    await first.enqueue([NewMessage("step", "r1", "s1")])
    await first.close()
    second = SqliteWorld(path)
    try:
        assert [e.data for e in await second.read_events("r1")] == [b"x"]
        assert (await second.get_message("s1")) is not None
    finally:
        await second.close()


async def test_two_instances_in_one_process_wake_each_other(tmp_path: Path) -> None:
    import anyio

    a, b = SqliteWorld(tmp_path / "wdk.db"), SqliteWorld(tmp_path / "wdk.db")
    await a.setup()
    await b.setup()
    try:
        woken: list[bool] = []
        async with anyio.create_task_group() as tg:

            async def waiter() -> None:
                woken.append(await b.wait_for_change(["run:r1"], 10.0))

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await a.append("r1", [NewEvent("step_started", "c1")])
        assert woken == [True]
    finally:
        await a.close()
        await b.close()


async def test_processes_append_concurrently_without_lost_or_duplicate_seqs(
    world: SqliteWorld,
) -> None:
    n = 300
    tags = ["p0", "p1", "p2"]
    with children(Path(world.path), "append", tags, n) as procs:
        results(procs)
    events = await world.read_events("shared")
    assert [e.seq for e in events] == list(range(1, len(tags) * n + 1))
    assert sorted(e.correlation_id for e in events) == sorted(
        f"{tag}:{i}" for tag in tags for i in range(n)
    )
    for tag in tags:  # each process's own appends stay in its order
        mine = [e.correlation_id for e in events if e.correlation_id.startswith(tag + ":")]
        assert mine == [f"{tag}:{i}" for i in range(n)]


async def test_processes_claim_each_message_once(world: SqliteWorld) -> None:
    keys = [f"s{i}" for i in range(200)]
    await world.enqueue([NewMessage("step", "r1", key) for key in keys])
    with children(Path(world.path), "claim", ["w0", "w1"], 0) as procs:
        claimed = results(procs)
    assert sorted(claimed[0] + claimed[1]) == sorted(keys)
    assert await world.next_due(["step"]) is None


async def test_wait_woken_by_another_process(world: SqliteWorld) -> None:
    assert bucket("stream:pinger:out") != bucket("stream:quiet:out")
    with children(Path(world.path), "ping", ["pinger"], 2000):
        assert await world.wait_for_change(["stream:pinger:out"], 30.0) is True
        # the pinger keeps committing; a wait on a topic it does not touch times out
        assert await world.wait_for_change(["stream:quiet:out"], 0.2) is False


async def test_blocking_writes_from_another_thread_wake_loop_waiters(world: SqliteWorld) -> None:
    """append_blocking / ack_blocking (what a worker's step thread uses): the same writes as
    append / ack, and a waiter on the event loop is woken by them."""
    import anyio
    import anyio.to_thread

    from wdk.worlds.base import BlockingWrites

    assert isinstance(world, BlockingWrites)
    await world.enqueue([NewMessage("step", "r1", "s1")])
    message = await world.claim(["step"], worker_id="w", lease_s=30)
    assert message is not None
    woken: list[bool] = []
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            woken.append(await world.wait_for_change(["run:r1"], 10.0))

        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        appended = await anyio.to_thread.run_sync(
            lambda: world.append_blocking(
                "r1",
                [NewEvent("step_completed", "c1", b"x", "c1:d")],
                enqueue=[NewMessage("step", "r1", "s2")],
                ack=[message.id],
                expect_seq=0,
            )
        )
    assert woken == [True]
    assert appended.seq == 1
    assert [e.data for e in await world.read_events("r1")] == [b"x"]
    assert await world.get_message("s1") is None
    second = await world.get_message("s2")
    assert second is not None and appended.message_ids == (second.id,)
    await anyio.to_thread.run_sync(lambda: world.ack_blocking([second.id]))
    assert await world.get_message("s2") is None


async def test_a_multi_row_event_insert_names_the_duplicate_and_writes_nothing(
    world: SqliteWorld,
) -> None:
    """Events of one append go in as one multi-row INSERT; a broken unique key still names
    the event that broke it, stored before or repeated within the append."""
    from wdk.worlds.base import DuplicateEvent

    await world.append("r1", [NewEvent("step_created", "c1", None, "c1:c")])
    stored = [NewEvent("step_started", "c2"), NewEvent("step_created", "c1", None, "c1:c")]
    with pytest.raises(DuplicateEvent) as info:
        await world.append("r1", stored)
    assert info.value.dedup_key == "c1:c"
    repeated = [NewEvent("step_created", "c3", None, "c3:c")] * 2
    with pytest.raises(DuplicateEvent) as info:
        await world.append("r1", repeated)
    assert info.value.dedup_key == "c3:c"
    assert [e.seq for e in await world.read_events("r1")] == [1]


async def test_a_step_recorded_with_the_next_one_reuses_its_queue_row(
    world: SqliteWorld,
) -> None:
    """The leased row is handed over to the next step (one generation up): no delete and
    insert. The conformance suite pins what callers see; this pins that the row is reused."""
    from wdk.worlds._sqlite_schema import message_ref

    await world.enqueue([NewMessage("step", "r1", "s1")])
    message = await world.claim(["step"], worker_id="w", lease_s=30)
    assert message is not None
    ids = [message.id]
    for n in range(2, 5):
        appended = await world.append(
            "r1",
            [NewEvent("step_completed", f"c{n}", b"x", f"c{n}:d")],
            ack=[ids[-1]],
            enqueue=[NewMessage("step", "r1", f"s{n}", lease_to="w", lease_s=30)],
        )
        ids += appended.message_ids
    refs = [message_ref(i) for i in ids]
    assert {rowid for rowid, _ in refs} == {refs[0][0]}
    assert [gen for _, gen in refs] == [0, 1, 2, 3]
    with sqlite3.connect(world.path) as conn:
        assert conn.execute("SELECT count(*) FROM queue").fetchone() == (1,)


async def test_a_row_at_its_last_generation_is_replaced_not_handed_over(
    world: SqliteWorld,
) -> None:
    """Generations stop at GEN_MAX so that ids stay below 2**53 (exact in any JSON reader):
    a row that reached it is acked and a new row inserted instead."""
    from wdk.worlds._sqlite_schema import GEN_MAX, message_ref

    await world.enqueue([NewMessage("step", "r1", "s1")])
    message = await world.claim(["step"], worker_id="w", lease_s=30)
    assert message is not None
    rowid, _ = message_ref(message.id)
    with sqlite3.connect(world.path) as conn:
        conn.execute("UPDATE queue SET gen = ? WHERE id = ?", (GEN_MAX, rowid))
    old = await world.get_message("s1")
    assert old is not None and message_ref(old.id) == (rowid, GEN_MAX) and old.id < 2**53
    appended = await world.append(
        "r1",
        [NewEvent("step_completed", "c1", b"x", "c1:d")],
        ack=[old.id],
        enqueue=[NewMessage("step", "r1", "s2", lease_to="w", lease_s=30)],
    )
    (new_id,) = appended.message_ids
    assert message_ref(new_id)[1] == 0 and message_ref(new_id)[0] > rowid
    assert await world.get_message("s1") is None
    new = await world.get_message("s2")
    assert new is not None and (new.id, new.owner) == (new_id, "w")


async def test_a_gone_workers_row_at_its_last_generation_is_moved_to_a_new_row(
    world: SqliteWorld,
) -> None:
    """Releasing a gone worker's messages gives them new ids; a row that cannot take one more
    generation becomes a new row (same key, payload, deliveries), so the old id stays dead."""
    from wdk.worlds._sqlite_schema import GEN_MAX, message_ref
    from wdk.worlds.base import WorkerInfo

    await world.heartbeat(WorkerInfo("dead"))
    await world.enqueue([NewMessage("step", "r1", "s1", b"p"), NewMessage("step", "r1", "s2")])
    last = await world.claim(["step"], worker_id="dead", lease_s=30)
    other = await world.claim(["step"], worker_id="dead", lease_s=30)
    assert last is not None and other is not None
    rowid, _ = message_ref(last.id)
    with sqlite3.connect(world.path) as conn:
        conn.execute("UPDATE queue SET gen = ? WHERE id = ?", (GEN_MAX, rowid))
    old = await world.get_message("s1")
    assert old is not None
    assert await world.release_worker("dead", last_seen=float("inf")) == 2
    moved = await world.get_message("s1")
    assert moved is not None and moved.owner is None
    assert (moved.payload, moved.deliveries) == (b"p", 1)
    assert message_ref(moved.id)[0] > rowid and message_ref(moved.id)[1] == 0
    bumped = await world.get_message("s2")
    assert bumped is not None and message_ref(bumped.id) == (message_ref(other.id)[0], 1)
    await world.ack([old.id])
    assert await world.get_message("s1") is not None


def _old_schema(version: int) -> list[str]:
    """The statements that created a new file at schema ``version`` (1 to 5)."""
    from wdk.worlds import _sqlite_schema as q

    statements = []
    for statement in q.SCHEMA:
        if statement in q.FLOW_SCHEMA:
            continue  # version 6
        if "CREATE TABLE IF NOT EXISTS schedules" in statement and version < 5:
            continue  # version 5
        if statement == q.WORKERS_TABLE and version < 4:
            continue  # version 4
        if version >= 3:
            statements.append(statement)
            continue
        if "runs_deployment" in statement:
            continue  # version 3
        statement = statement.replace(
            ",\n        deployment_id TEXT,\n        forked_from TEXT", ""
        )
        if version < 2:
            statement = statement.replace(",\n        gen INTEGER NOT NULL DEFAULT 0", "")
        statements.append(statement)
    return statements


def _make_old_file(path: Path, version: int) -> None:
    """A database as schema ``version`` left it: one run, one pending message."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for statement in _old_schema(version):
            conn.execute(statement)
        queue_columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
        assert ("gen" in queue_columns) == (version >= 2)
        run_columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        assert bool({"deployment_id", "forked_from"} & run_columns) == (version >= 3)
        assert "queue" not in run_columns
        conn.execute(
            "INSERT INTO runs (run_id, workflow_id, status, created_at, started_at, input)"
            " VALUES ('r1', 'wf', 'running', 10, 11, x'02')"
        )
        conn.execute(
            "INSERT INTO queue (kind, run_id, key, payload, not_before) VALUES"
            " ('step', 'r1', 's1', x'01', 0)"
        )
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
async def test_an_older_file_is_migrated_and_keeps_its_runs_and_messages(
    tmp_path: Path, version: int
) -> None:
    import msgpack

    from wdk.worlds._sqlite_schema import SCHEMA_VERSION
    from wdk.worlds.base import RunInfo, WorkerInfo

    path = tmp_path / f"v{version}.db"
    _make_old_file(path, version)
    world = SqliteWorld(path)
    await world.setup()
    try:
        old = RunInfo("r1", "wf", "running", 10.0, 11.0, input=b"\x02")
        assert await world.get_run("r1") == old
        assert (await world.list_runs()).runs == [old]
        message = await world.claim(["step"], worker_id="w", lease_s=30)
        assert message is not None and (message.key, message.payload) == ("s1", b"\x01")
        appended = await world.append(
            "r1",
            [NewEvent("step_completed", "c1", b"x", "c1:d")],
            ack=[message.id],
            enqueue=[NewMessage("step", "r1", "s2", lease_to="w", lease_s=30)],
        )
        assert await world.get_message("s1") is None
        await world.ack(appended.message_ids)
        assert await world.get_message("s2") is None
        # The new columns work on the migrated file.
        data = msgpack.packb({"workflow_id": "wf", "deployment_id": "d1", "forked_from": "r1"})
        await world.append("r2", [NewEvent("run_created", None, data)])
        await world.enqueue([NewMessage("workflow", "r2", "w2")])
        assert (
            await world.claim(["workflow"], worker_id="w", lease_s=30, deployment_id="d0") is None
        )
        got = await world.claim(["workflow"], worker_id="w", lease_s=30, deployment_id="d1")
        assert got is not None and got.run_id == "r2"
        new = await world.get_run("r2")
        assert new is not None and (new.deployment_id, new.forked_from) == ("d1", "r1")
        assert [r.run_id for r in (await world.list_runs(deployment_id="d1")).runs] == ["r2"]
        # ... and so do the workers' (schema version 4) and flow control's (version 6).
        await world.heartbeat(WorkerInfo("w", host="h", pid=1))
        assert [w.worker_id for w in await world.list_workers()] == ["w"]
        assert await world.list_schedules() == []  # version 5's table
        from wdk.worlds._flow import FlowStart, QueueSpec

        await world.register_queues([QueueSpec("q", concurrency=1)])
        landed = await world.start_queued("r3", NewEvent("run_created", None, data), FlowStart("q"))
        assert landed.run_id == "r3" and (await world.get_run("r3")).status == "pending"  # type: ignore[union-attr]
    finally:
        await world.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(runs)")}
        assert "runs_deployment" in indexes


async def test_a_new_file_and_a_migrated_one_have_the_same_schema(tmp_path: Path) -> None:
    def schema(path: Path) -> list[tuple[str, ...]]:
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            columns = [
                (table, *map(str, row[1:]))
                for table in sorted(tables)
                for row in conn.execute(f"PRAGMA table_info({table})")
            ]
            indexes = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
            ).fetchall()
            return columns + indexes

    _make_old_file(tmp_path / "old.db", 1)
    for name in ("old.db", "new.db"):
        world = SqliteWorld(tmp_path / name)
        await world.setup()
        await world.close()
    assert schema(tmp_path / "old.db") == schema(tmp_path / "new.db")


async def test_a_file_of_a_newer_wdk_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    world = SqliteWorld(path)
    with pytest.raises(WorldError, match=r"newer wdk \(schema version 99.*upgrade wdk"):
        await world.setup()
    await world.close()


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] | list[object]) -> str:
    return " | ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_the_deploy_queries_use_the_indexes_meant_for_them(tmp_path: Path) -> None:
    """An id prefix is a range of the primary key; a pinned claim (and next_due) still walks
    the queue in due order, probing each candidate's run by its key, rather than starting
    from every run of the deployment; the unpinned claim is the statement it always was."""
    from wdk.worlds import _sqlite_schema as q
    from wdk.worlds._sqlite_views import list_runs_sql

    conn = sqlite3.connect(tmp_path / "plan.db")
    try:
        for statement in q.SCHEMA:
            conn.execute(statement)
        sql, params = list_runs_sql(
            workflow_id=None,
            status=None,
            cursor=None,
            id_prefix="wrun_01",
            deployment_id=None,
            limit=21,
        )
        assert "USING INDEX sqlite_autoindex_runs_1 (run_id>? AND run_id<?)" in _plan(
            conn, sql, params
        )
        peek, take = q.claim_sql(2, True)
        plan = _plan(conn, peek, (0.0, 0.0, "workflow", "step", "d1"))
        assert "queue_due" in plan and "sqlite_autoindex_runs_1 (run_id=?)" in plan
        assert "runs_deployment" not in plan and "TEMP B-TREE" not in plan
        plan = _plan(conn, q.due_sql(1, True), (0.0, "workflow", "d1"))
        assert "queue_due" in plan and "runs_deployment" not in plan
    finally:
        conn.close()
    assert q.claim_sql(2)[0] == (
        "SELECT id FROM queue WHERE not_before <= ? AND lease_until <= ? AND kind IN (?, ?)"
        " ORDER BY not_before, id LIMIT 1"
    )
    assert "runs" not in q.claim_sql(2)[1] and "runs" not in q.due_sql(2)
