"""``wdk inspect workers``: the registered workers and the queue messages each holds.

Every worker registers in the world and heartbeats every second (docs/workers.md); a worker
found gone (its process ended, or its heartbeat stopped) is unregistered by the others and
its messages released, so this lists the live ones, idle ones included. A lease held by an
owner that is not registered (a worker of an older wdk) shows too, without host or pid.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from wdk.cli._common import open_cli_world, run_async, to_json, world_option
from wdk.cli._inspect import inspect
from wdk.worlds.base import Message, WorkerInfo

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _ts(value: float) -> str:
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def summarize(workers: Sequence[WorkerInfo], leases: Sequence[Message]) -> list[dict[str, Any]]:
    """One row per worker, by id: where it runs, its last heartbeat, what it holds."""
    by_owner: dict[str, list[Message]] = collections.defaultdict(list)
    for msg in leases:
        by_owner[msg.owner or ""].append(msg)
    registered = {w.worker_id: w for w in workers}
    rows = []
    for owner in sorted(set(registered) | set(by_owner)):
        held = by_owner.get(owner, [])
        kinds = collections.Counter(m.kind for m in held)
        info = registered.get(owner)
        rows.append(
            {
                "worker_id": owner,
                "host": info.host if info else None,
                "pid": info.pid if info else None,
                "started_at": info.started_at if info else None,
                "last_seen": info.last_seen if info else None,
                "messages": len(held),
                "kinds": dict(sorted(kinds.items())),
                "earliest_lease_until": min((m.lease_until for m in held), default=None),
                "held": [
                    {
                        "id": m.id,
                        "kind": m.kind,
                        "run_id": m.run_id,
                        "key": m.key,
                        "deliveries": m.deliveries,
                        "lease_until": m.lease_until,
                    }
                    for m in held
                ],
            }
        )
    return rows


@inspect.command("workers")
@world_option
@json_option
def workers(world_url: str | None, as_json: bool) -> None:
    """List the registered workers: host, pid, last heartbeat and the messages each holds."""

    async def main() -> None:
        world = open_cli_world(world_url)
        await world.setup()
        try:
            rows = summarize(await world.list_workers(), await world.list_leases())
        finally:
            await world.close()
        if as_json:
            click.echo(to_json(rows))
            return
        now = time.time()
        table = Table(title="workers")
        for col in ("worker id", "host (pid)", "last heartbeat", "messages held", "kinds"):
            table.add_column(col)
        table.add_column("earliest lease expiry")
        for r in rows:
            seen, until = r["last_seen"], r["earliest_lease_until"]
            table.add_row(
                r["worker_id"],
                f"{r['host']} ({r['pid']})" if r["host"] is not None else "(not registered)",
                f"{now - seen:.1f}s ago" if seen is not None else "-",
                str(r["messages"]),
                ", ".join(f"{kind} x{n}" for kind, n in r["kinds"].items()),
                f"{_ts(until)} (in {until - now:.1f}s)" if until is not None else "-",
            )
        Console().print(table)

    run_async(main)
