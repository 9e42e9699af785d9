"""``wdk inspect runs|run|events|steps``: readable tables (rich) or ``--json``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from wdk.cli._common import RUN_INPUT_ERRORS, open_cli_world, run_async, to_json, world_option
from wdk.cli._inspect import inspect
from wdk.cli._views import decode_stored, json_view, timeline
from wdk.worlds.base import RunStatus

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _ts(value: float | None) -> str:
    if not value:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _decode(data: bytes | None) -> Any:
    return decode_stored(data)


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
            click.echo(to_json(json_view([_run_dict(r) for r in page.runs])))
            return
        # The deployment column only when some run names one (not the hash of its code).
        named = any(r.deployment_id and not r.deployment_id.startswith("code-") for r in page.runs)
        from rich.console import Console  # only when a table is printed
        from rich.table import Table

        table = Table(title="runs")
        for col in ("run id", "workflow", "status", "deployment", "created"):
            if col != "deployment" or named:
                # Ids are never cut: the other columns fold first.
                table.add_column(col, no_wrap=col in ("run id", "status"), overflow="fold")
        for r in page.runs:
            row = [r.run_id, r.workflow_id.rpartition("//")[2], r.status]
            if named:
                row.append(r.deployment_id or "")
            table.add_row(*row, _ts(r.created_at)[:19])
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)


async def _events(world_url: str | None, run_id: str) -> tuple[Any, list[Any]]:
    """The run ``run_id`` names (the id or a unique prefix of it) and its events."""
    from wdk.runtime._deploys import resolve_run_id

    world = open_cli_world(world_url)
    await world.setup()
    try:
        run_id = await resolve_run_id(world, run_id)
        info = await world.get_run(run_id)
        events = await world.read_events(run_id)
    finally:
        await world.close()
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
            click.echo(to_json(json_view(data)))
            return
        from rich.console import Console  # only when a table is printed
        from rich.table import Table

        table = Table(title=info.run_id, show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")  # a file:line is never cut short
        for key, value in data.items():
            if info.status == RunStatus.BLOCKED and key == "error":
                for label, text in block_lines(value, info.run_id):
                    table.add_row(label, text)
                continue
            table.add_row(
                key,
                _ts(value)
                if key.endswith("_at")
                else to_json(json_view(value))
                if key in ("output", "error")
                else ""
                if value is None
                else str(value),
            )
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)


@inspect.command("events")
@click.argument("run_id")
@world_option
@json_option
def events(run_id: str, world_url: str | None, as_json: bool) -> None:
    """Show a run's event log."""

    async def main() -> None:
        info, evs = await _events(world_url, run_id)
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
            click.echo(to_json(json_view(rows)))
            return
        from rich.console import Console  # only when a table is printed
        from rich.table import Table

        table = Table(title=f"events of {info.run_id}")
        for col in ("seq", "type", "correlation id", "at", "data"):
            table.add_column(col, overflow="fold", no_wrap=col == "correlation id")
        for r in rows:
            table.add_row(
                str(r["seq"]),
                r["type"],
                r["correlation_id"] or "",
                _ts(r["created_at"]),
                to_json(json_view(r["data"]))[:200],
            )
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)


def step_rows(evs: list[Any]) -> list[dict[str, Any]]:
    """One row per step call (the steps of :func:`wdk.cli._views.timeline`)."""
    return [row for row in timeline(evs) if row["kind"] == "step"]


def _outcome_text(row: dict[str, Any]) -> str:
    if row["kind"] == "step":
        if row["error"]:
            return f"error: {row['error']}"
        return "" if row["status"] != "completed" else to_json(json_view(row["result"]))
    if row["kind"] == "sleep":
        return f"until {_ts(row['until'])}"
    text = f"token {row['token']}"
    return text + (f" -> {to_json(json_view(row['payload']))}" if row["payload"] else "")


@inspect.command("steps")
@click.argument("run_id")
@world_option
@json_option
def steps(run_id: str, world_url: str | None, as_json: bool) -> None:
    """Show a run's steps, sleeps and hooks in order: arguments, result or error, attempts, times.

    RUN_ID may be a unique prefix of the id.
    """

    async def main() -> None:
        info, evs = await _events(world_url, run_id)
        rows = timeline(evs)
        if as_json:
            click.echo(to_json(json_view(rows)))
            return
        from rich.console import Console  # only when a table is printed
        from rich.table import Table

        table = Table(title=f"steps of {info.run_id}")
        for col in ("name", "status", "tries", "arguments", "outcome", "took"):
            table.add_column(col, overflow="fold", no_wrap=col in ("status", "tries", "took"))
        for r in rows:
            took = ""
            if r["completed_at"] and r["created_at"]:
                took = f"{r['completed_at'] - r['created_at']:.3f}s"
            args = ""
            if r["kind"] == "step":
                args = to_json(json_view(r["args"]))
            table.add_row(
                str(r["name"]).rpartition("//")[2],
                r["status"],
                str(r.get("attempts", "")),
                args,
                _outcome_text(r),
                took,
            )
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)
