"""``wdk inspect workers``: live workers, seen through the leases they hold.

Workers do not register anywhere: a worker is live, for this view, while it holds at least
one queue message under a current lease (heartbeats keep those leases fresh). An idle worker
holds nothing and so does not appear; a dead one drops out when its leases expire, which is
also when its messages become claimable by the others.
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
from wdk.worlds.base import Message

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _ts(value: float) -> str:
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def summarize(leases: Sequence[Message]) -> list[dict[str, Any]]:
    """One row per worker (by its earliest lease expiry): what it holds and until when."""
    by_owner: dict[str, list[Message]] = collections.defaultdict(list)
    for msg in leases:
        by_owner[msg.owner or ""].append(msg)
    rows = []
    for owner, held in by_owner.items():
        kinds = collections.Counter(m.kind for m in held)
        rows.append(
            {
                "worker_id": owner,
                "messages": len(held),
                "kinds": dict(sorted(kinds.items())),
                "earliest_lease_until": min(m.lease_until for m in held),
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
    rows.sort(key=lambda r: (r["earliest_lease_until"], r["worker_id"]))
    return rows


@inspect.command("workers")
@world_option
@json_option
def workers(world_url: str | None, as_json: bool) -> None:
    """List live workers: the queue messages each holds under a current lease."""

    async def main() -> None:
        world = open_cli_world(world_url)
        await world.setup()
        try:
            rows = summarize(await world.list_leases())
        finally:
            await world.close()
        if as_json:
            click.echo(to_json(rows))
            return
        now = time.time()
        table = Table(title="live workers (by leases held)")
        for col in ("worker id", "messages held", "kinds", "earliest lease expiry"):
            table.add_column(col)
        for r in rows:
            until = r["earliest_lease_until"]
            table.add_row(
                r["worker_id"],
                str(r["messages"]),
                ", ".join(f"{kind} x{n}" for kind, n in r["kinds"].items()),
                f"{_ts(until)} (in {until - now:.1f}s)",
            )
        Console().print(table)

    run_async(main)
