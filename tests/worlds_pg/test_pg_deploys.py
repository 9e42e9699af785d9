"""Deploys on PostgreSQL: migration 3, the id-prefix filter per collation, and query plans.

What callers see is pinned by the conformance suite; this pins what only PostgreSQL has.
"""

from __future__ import annotations

import json
from base64 import b64encode
from typing import Any

import msgpack
import psycopg
import pytest

from wdk.worlds import _pg_migrations
from wdk.worlds._pg_migrations import MIGRATIONS, migrate
from wdk.worlds._pg_runs import sorts_by_code_point
from wdk.worlds.base import EventType, NewEvent, NewMessage, RunInfo

pytestmark = pytest.mark.anyio


def _b64(data: bytes) -> str:
    return b64encode(data).decode("ascii")


def _old_request(run_id: str, events: list[list[Any]], now: float) -> dict[str, Any]:
    """An append request as a wdk from before migration 3 sends it (7 fields per event)."""
    return {
        "r": run_id,
        "e": events,
        "s": True,
        "x": None,
        "a": [],
        "m": [["workflow", run_id, f"wf:{run_id}", None, now, 0.0, None]],
    }


def _old_created(workflow_id: str, input_: bytes) -> list[Any]:
    data = msgpack.packb({"workflow_id": workflow_id, "input": input_}, use_bin_type=True)
    return ["run_created", None, _b64(data), "run:created", workflow_id, _b64(input_), None]


async def _append_old(conn: psycopg.AsyncConnection[Any], schema: str, request: Any) -> None:
    await conn.execute(
        f'SELECT * FROM "{schema}".append_batch(%s, %s::jsonb, %s)',  # type: ignore[arg-type]
        (100.0, json.dumps([request]), "on"),
    )


async def test_a_version_2_schema_migrates_and_old_appends_still_work(
    pg_url: str, schema: str, make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pg_migrations, "MIGRATIONS", MIGRATIONS[:2])
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        assert await migrate(conn, schema) == [1, 2]
        started = ["run_started", None, None, "run:started"]
        await _append_old(conn, schema, _old_request("r1", [_old_created("wf", b"in")], 100.0))
        await _append_old(conn, schema, _old_request("r1", [started], 100.0))
        monkeypatch.setattr(_pg_migrations, "MIGRATIONS", MIGRATIONS)
        assert await migrate(conn, schema) == list(range(3, len(MIGRATIONS) + 1))
        # A worker of the old wdk, still running while the new one rolls out.
        await _append_old(conn, schema, _old_request("r2", [_old_created("wf2", b"x")], 100.0))
        monkeypatch.setattr(_pg_migrations, "MIGRATIONS", MIGRATIONS)
    world = await make_world()
    assert await world.get_run("r1") == RunInfo("r1", "wf", "running", 100.0, 100.0, input=b"in")
    r2 = await world.get_run("r2")
    assert r2 is not None and (r2.workflow_id, r2.deployment_id, r2.forked_from) == (
        "wf2",
        None,
        None,
    )
    await world.append("r1", [NewEvent(EventType.RUN_BLOCKED, None, b"block")])
    blocked = await world.get_run("r1")
    assert blocked is not None and (blocked.status, blocked.error) == ("blocked", b"block")
    created = msgpack.packb({"workflow_id": "wf", "deployment_id": "d1", "forked_from": "r1"})
    await world.append("r3", [NewEvent(EventType.RUN_CREATED, None, created)])
    await world.enqueue([NewMessage("workflow", "r3", "wf:r3x")])
    got = await world.claim(["workflow"], worker_id="w", lease_s=30, deployment_id="d1")
    assert got is not None and got.run_id == "r3"


@pytest.mark.parametrize("code_point", [True, False])
async def test_id_prefix_is_literal_whichever_way_the_database_sorts(
    world: Any, code_point: bool
) -> None:
    """Where the collation does not sort by code point the filter is ``starts_with``; the
    test server's collation decides which one the conformance suite exercises, so both here."""
    world._runs.code_point_ids = code_point
    ids = ["wrun_01HZAB", "wrun_01HZ", "wrun_01H_", "wrun_01H%", "wrun_01Ha", "wrun_01H[", "x"]
    for run_id in ids:
        data = msgpack.packb({"workflow_id": "wf"})
        await world.append(run_id, [NewEvent(EventType.RUN_CREATED, None, data)])

    async def matching(prefix: str) -> set[str]:
        return {r.run_id for r in (await world.list_runs(id_prefix=prefix, limit=50)).runs}

    assert await matching("wrun_01HZ") == {"wrun_01HZAB", "wrun_01HZ"}
    assert await matching("wrun_01H_") == {"wrun_01H_"}
    assert await matching("wrun_01H%") == {"wrun_01H%"}
    assert await matching("wrun_01H") == set(ids) - {"x"}
    assert await matching("wrun\x00") == set()


async def test_code_point_order_is_detected_only_where_it_holds(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        detected = await sorts_by_code_point(conn)
        cur = await conn.execute("SELECT 'wrun_01HZAB' < 'wrun_01H[', 'a' < 'B'")
        row = await cur.fetchone()
    assert row is not None
    if detected:  # Z (U+005A) < [ (U+005B) < a (U+0061); a linguistic order differs
        assert row == (True, False)


async def _explain(conn: psycopg.AsyncConnection[Any], sql: str, params: Any) -> str:
    cur = await conn.execute("EXPLAIN " + sql, params)  # type: ignore[operator]
    return "\n".join(str(r[0]) for r in await cur.fetchall())


async def test_the_deploy_queries_use_the_indexes_meant_for_them(
    world: Any, pg_url: str, schema: str
) -> None:
    """An id prefix reads a range of the primary key; a pinned claim walks the pending rows
    in due order and probes each one's run by its key, never every run of the deployment."""
    s = f'"{schema}"'
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            f"""INSERT INTO {s}.runs (run_id, workflow_id, status, created_at, deployment_id)
            SELECT 'wrun_' || lpad(i::text, 6, '0'), 'wf',
                CASE WHEN i % 10 = 0 THEN 'running' ELSE 'completed' END, i, 'd' || (i % 3)
            FROM generate_series(1, 20000) i"""  # type: ignore[arg-type]
        )
        await conn.execute(
            f"""INSERT INTO {s}.queue (kind, run_id, key, not_before, created_at)
            SELECT 'workflow', 'wrun_' || lpad(i::text, 6, '0'), 'k' || i, i, i
            FROM generate_series(10, 20000, 10) i"""  # type: ignore[arg-type]
        )
        await conn.execute(f"ANALYZE {s}.runs")  # type: ignore[arg-type]
        await conn.execute(f"ANALYZE {s}.queue")  # type: ignore[arg-type]
        world._runs.code_point_ids = True
        sql, params = world._runs.select(
            workflow_id=None,
            status=None,
            limit=21,
            cursor=None,
            id_prefix="wrun_0012",
            deployment_id=None,
        )
        plan = await _explain(conn, sql, params)
        assert "Index Scan using runs_pkey" in plan and "run_id >= " in plan, plan
        queue = world._queue
        now = {"kinds": ["workflow"], "now": 1e9}
        claim = {**now, "until": 1e9, "owner": "w"}
        plan = await _explain(conn, queue._claim_pinned, {**claim, "deployment": "d1"})
        assert "queue_pending" in plan and "runs_pkey" in plan, plan
        assert "runs_deployment" not in plan and "Seq Scan" not in plan, plan
        plan = await _explain(conn, queue._next_due_pinned, {**now, "deployment": "d1"})
        assert "queue_pending" in plan and "runs_deployment" not in plan, plan
        plan = await _explain(conn, queue._claim, claim)
        assert "queue_pending" in plan and " on runs" not in plan, plan
