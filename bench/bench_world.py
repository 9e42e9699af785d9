"""World hot-path benchmark: what one durable append costs on SQLite, next to a bare commit.

Rows (median microseconds per operation):

* bare commit: ``BEGIN IMMEDIATE; INSERT one small row; COMMIT`` on a plain sqlite3
  connection with the same pragmas (the floor: one fsync'd WAL commit);
* append: ``SqliteWorld.append`` of one event + one enqueued message + one ack (what a
  worker does per step);
* claim + ack: one ``claim`` and one ``ack`` (two write transactions);
* the same on the memory world, for the Python cost alone.

Run: ``.venv/bin/python bench/bench_world.py [n]``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _floor import bare_commit_ms  # noqa: E402
from _report import machine, write_section  # noqa: E402

from wdk.worlds.base import NewEvent, NewMessage  # noqa: E402
from wdk.worlds.memory import MemoryWorld  # noqa: E402
from wdk.worlds.sqlite import SqliteWorld  # noqa: E402


def median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


async def world_ops(world: Any, n: int) -> tuple[float, float]:
    """(append event+enqueue+ack, claim+ack) medians in microseconds."""
    await world.setup()
    await world.enqueue([NewMessage("workflow", "r", "k0")])
    first = await world.get_message("k0")
    prev = first.id
    appends = []
    for i in range(n):
        event = NewEvent("step_completed", f"c{i}", b"x" * 32, f"c{i}:d")
        t0 = time.perf_counter_ns()
        appended = await world.append(
            "r", [event], enqueue=[NewMessage("workflow", "r", f"k{i + 1}")], ack=[prev]
        )
        appends.append(time.perf_counter_ns() - t0)
        (prev,) = appended.message_ids
    await world.ack([prev])
    await world.enqueue([NewMessage("step", "q", f"s{i}") for i in range(n)])
    claims = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        msg = await world.claim(["step"], worker_id="w", lease_s=30)
        assert msg is not None
        await world.ack([msg.id])
        claims.append(time.perf_counter_ns() - t0)
    await world.close()
    return median_us(appends), median_us(claims)


async def main(n: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sync in ("FULL", "NORMAL"):
            bare = bare_commit_ms(Path(tmp) / f"bare-{sync}.db", sync, n) * 1000
            world = SqliteWorld(Path(tmp) / f"world-{sync}.db", synchronous=sync.lower())
            append, claim = await world_ops(world, n)
            rows.append(
                f"| SQLite `synchronous={sync}` | {bare:.0f} | {append:.0f} "
                f"| {append - bare:+.0f} | {claim:.0f} |"
            )
    append, claim = await world_ops(MemoryWorld(), n)
    rows.append(f"| memory | - | {append:.1f} | - | {claim:.1f} |")
    return "\n".join(
        [
            "## World hot path",
            "",
            f"Median microseconds per operation over {n} operations; {machine()}. ",
            "*append* = one event + one enqueued message + one ack in one transaction (a step's",
            "record); *claim + ack* = two write transactions. The SQLite world runs its sqlite3",
            "calls on the event loop, so these are wall-clock costs of the awaited call.",
            "",
            "| world | bare commit | append | append - bare | claim + ack |",
            "|---|---:|---:|---:|---:|",
            *rows,
        ]
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    markdown = asyncio.run(main(count))
    print(markdown)
    write_section("world", markdown)
