"""``wdk inspect workers``: registered workers (idle ones too) with host, pid, last heartbeat
and the messages each holds; a lease of an unregistered owner shows without host or pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio

from wdk.worlds.base import NewMessage, WorkerInfo
from wdk.worlds.sqlite import SqliteWorld

WDK = str(Path(sys.executable).with_name("wdk"))


async def _fill(db: Path) -> None:
    world = SqliteWorld(db)
    await world.setup()
    await world.heartbeat(WorkerInfo("w-busy", host="box1", pid=11, process="p"))
    await world.heartbeat(WorkerInfo("w-idle", host="box2", pid=22, process="q"))
    await world.enqueue([NewMessage("step", "r1", "s1"), NewMessage("workflow", "r2", "k2")])
    assert await world.claim(["step"], worker_id="w-busy", lease_s=60) is not None
    assert await world.claim(["workflow"], worker_id="w-old", lease_s=60) is not None
    await world.close()


def _inspect(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [WDK, "inspect", "workers", "--world", f"sqlite:///{db}", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inspect_workers_lists_registered_and_leasing_workers(tmp_path: Path) -> None:
    db = tmp_path / "wdk.db"
    anyio.run(_fill, db)
    listed = _inspect(db, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["worker_id"]: r for r in json.loads(listed.stdout)}
    assert sorted(rows) == ["w-busy", "w-idle", "w-old"]
    busy, idle, old = rows["w-busy"], rows["w-idle"], rows["w-old"]
    assert (busy["host"], busy["pid"], busy["messages"], busy["kinds"]) == (
        "box1",
        11,
        1,
        {"step": 1},
    )
    assert busy["held"][0]["key"] == "s1" and busy["last_seen"] is not None
    assert (idle["host"], idle["messages"], idle["earliest_lease_until"]) == ("box2", 0, None)
    assert (old["host"], old["pid"], old["last_seen"], old["messages"]) == (None, None, None, 1)
    table = _inspect(db)
    assert table.returncode == 0, table.stderr
    assert "box1 (11)" in table.stdout and "(not registered)" in table.stdout
