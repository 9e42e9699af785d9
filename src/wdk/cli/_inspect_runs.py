"""``wdk inspect runs|run|events|steps``: readable tables (rich) or ``--json``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from wdk import serde
from wdk.cli._common import open_cli_world, run_async, to_json, world_option
from wdk.cli._inspect import inspect
from wdk.worlds.base import RunStatus

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _ts(value: float | None) -> str:
    if not value:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _decode(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return serde.decode(data)
    except Exception:  # noqa: BLE001 - display only
        import msgpack

        try:
            return msgpack.unpackb(data, raw=False)
        except Exception:  # noqa: BLE001
            return f"<{len(data)} bytes>"


def _run_dict(info: Any) -> dict[str, Any]:
    """A run as ``--json`` prints it; ``error`` is a failed run's error or a blocked run's block."""
    return {
        "run_id": info.run_id,
        "workflow_id": info.workflow_id,
        "status": info.status,
        "deployment_id": info.deployment_id,
        "forked_from": info.forked_from,
        "created_at": info.created_at,
        "started_at": info.started_at,
        "completed_at": info.completed_at,
        "output": _decode(info.output),
        "error": _decode(info.error),
    }


def block_lines(block: Any, run_id: str) -> list[tuple[str, str]]:
    """The rows that say why a blocked run is parked (from its decoded block record)."""
    if not isinstance(block, dict):
        return [("blocked", "" if block is None else str(block))]
    event = block.get("event")
    where = ", ".join(
        part
        for part in (
            f"event #{event}" if event is not None else "",
            str(block.get("location") or ""),
        )
        if part
    )
    rows = [("blocked", f"{block.get('code', '')}" + (f" at {where}" if where else ""))]
    rows.append(("why", str(block.get("message", ""))))
    rows.append(("next", f"fix or roll back the code, then `wdk retry {run_id}` (docs/deploys.md)"))
    return rows


@inspect.command("runs")
@world_option
@click.option("--workflow", default=None, help="Only runs of this workflow ID.")
@click.option(
    "--status", default=None, type=click.Choice(RunStatus.ALL), help="Only runs with this status."
)
@click.option("--deployment", default=None, help="Only runs on this deployment.")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="At most N runs."
)
@json_option
def runs(
    world_url: str | None,
    workflow: str | None,
    status: str | None,
    deployment: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first."""

    async def main() -> None:
        world = open_cli_world(world_url)
        await world.setup()
        filters: dict[str, Any] = {}
        if deployment is not None:
            filters["deployment_id"] = deployment
        page = await world.list_runs(workflow_id=workflow, status=status, limit=limit, **filters)
        await world.close()
        if as_json:
            click.echo(to_json([_run_dict(r) for r in page.runs]))
            return
        # The deployment column only when some run has one: the table is wide already.
        pinned = any(r.deployment_id for r in page.runs)
        table = Table(title="runs")
        for col in ("run id", "workflow", "status", "deployment", "created", "completed"):
            if col != "deployment" or pinned:
                table.add_column(col)
        for r in page.runs:
            row = [r.run_id, r.workflow_id, r.status, r.deployment_id or ""]
            table.add_row(*row[: 4 if pinned else 3], _ts(r.created_at), _ts(r.completed_at))
        Console().print(table)

    run_async(main)


async def _events(world_url: str | None, run_id: str) -> tuple[Any, list[Any]]:
    from wdk.errors import WorkflowRunNotFoundError

    world = open_cli_world(world_url)
    await world.setup()
    info = await world.get_run(run_id)
    events = await world.read_events(run_id)
    await world.close()
    if info is None:
        raise WorkflowRunNotFoundError(f"no run has id {run_id!r}", run_id=run_id)
    return info, events


@inspect.command("run")
@click.argument("run_id")
@world_option
@json_option
def run(run_id: str, world_url: str | None, as_json: bool) -> None:
    """Show one run."""

    async def main() -> None:
        info, _ = await _events(world_url, run_id)
        data = _run_dict(info)
        if as_json:
            click.echo(to_json(data))
            return
        table = Table(title=run_id, show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")  # a file:line is never cut short
        for key, value in data.items():
            if info.status == RunStatus.BLOCKED and key == "error":
                for label, text in block_lines(value, run_id):
                    table.add_row(label, text)
                continue
            table.add_row(
                key,
                _ts(value)
                if key.endswith("_at")
                else to_json(value)
                if key in ("output", "error")
                else ""
                if value is None
                else str(value),
            )
        Console().print(table)

    run_async(main)


@inspect.command("events")
@click.argument("run_id")
@world_option
@json_option
def events(run_id: str, world_url: str | None, as_json: bool) -> None:
    """Show a run's event log."""

    async def main() -> None:
        _, evs = await _events(world_url, run_id)
        rows = [
            {
                "seq": e.seq,
                "type": e.type,
                "correlation_id": e.correlation_id,
                "created_at": e.created_at,
                "data": _decode(e.data),
            }
            for e in evs
        ]
        if as_json:
            click.echo(to_json(rows))
            return
        table = Table(title=f"events of {run_id}")
        for col in ("seq", "type", "correlation id", "at", "data"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                str(r["seq"]),
                r["type"],
                r["correlation_id"] or "",
                _ts(r["created_at"]),
                to_json(r["data"])[:80],
            )
        Console().print(table)

    run_async(main)


def step_rows(evs: list[Any]) -> list[dict[str, Any]]:
    """Fold a run's events into one row per step call."""
    import msgpack

    steps: dict[str, dict[str, Any]] = {}
    for e in evs:
        if e.type == "step_created":
            info = msgpack.unpackb(e.data, raw=False)
            steps[e.correlation_id] = {
                "step_id": e.correlation_id,
                "name": info.get("step"),
                "status": "pending",
                "attempts": 0,
                "created_at": e.created_at,
                "completed_at": None,
                "error": None,
            }
        row = steps.get(e.correlation_id or "")
        if row is None:
            continue
        if e.type == "step_started":
            row["status"], row["attempts"] = "running", row["attempts"] + 1
        elif e.type == "step_retrying":
            row["status"] = "retrying"
            row["error"] = str(_decode(e.data).get("error"))
        elif e.type == "step_completed":
            row["status"], row["completed_at"] = "completed", e.created_at
        elif e.type == "step_failed":
            row["status"], row["completed_at"] = "failed", e.created_at
            row["error"] = str(_decode(e.data).get("error"))
    return list(steps.values())


@inspect.command("steps")
@click.argument("run_id")
@world_option
@json_option
def steps(run_id: str, world_url: str | None, as_json: bool) -> None:
    """Show a run's steps with status and attempts."""

    async def main() -> None:
        _, evs = await _events(world_url, run_id)
        rows = step_rows(evs)
        if as_json:
            click.echo(to_json(rows))
            return
        table = Table(title=f"steps of {run_id}")
        for col in ("step id", "name", "status", "attempts", "created", "completed", "error"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["step_id"],
                str(r["name"]),
                r["status"],
                str(r["attempts"]),
                _ts(r["created_at"]),
                _ts(r["completed_at"]),
                r["error"] or "",
            )
        Console().print(table)

    run_async(main)
