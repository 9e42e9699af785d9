"""``wdk schedules list|pause|resume|trigger``: the schedules stored in the world.

A schedule reaches the world when a worker that imported its module starts; these commands
work from the world alone (no module is imported), so they run anywhere the world is.
"""

from __future__ import annotations

import time
from typing import Any

import click

from wdk.cli._common import open_cli_world, run_async, to_json, world_option
from wdk.cli._views import decode_stored, iso, json_view

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("schedules")
def schedules() -> None:
    """List, pause, resume and trigger schedules (wdk.schedule)."""


def _view(info: Any) -> dict[str, Any]:
    from wdk.runtime._schedule_spec import Schedule

    sched = Schedule.from_spec(info.schedule_id, info.spec)
    return {
        "id": info.schedule_id,
        "workflow_id": sched.workflow_id,
        "when": sched.when,
        "cron": sched.cron,
        "every": sched.every,
        "timezone": sched.timezone,
        "overlap": sched.overlap,
        "catchup": sched.catchup,
        "args": json_view(decode_stored(sched.args)),
        "paused": info.paused,
        "last_fire": iso(info.last_fire),
        "next_fire": None if info.paused else iso(info.next_fire),
        "buffered": iso(info.buffered),
        "last_run_id": info.last_run_id,
    }


def _line(view: dict[str, Any]) -> str:
    state = "paused" if view["paused"] else f"next {view['next_fire'] or '-'}"
    last = view["last_run_id"] or "-"
    return f"{view['id']}  {view['when']}  {state}  last run {last}  {view['workflow_id']}"


@schedules.command("list")
@world_option
@json_option
def list_schedules(world_url: str | None, as_json: bool) -> None:
    """Every schedule: when it fires, its next tick, its last run, paused or not."""

    async def main() -> None:
        world = open_cli_world(world_url)
        try:
            views = [_view(info) for info in await world.list_schedules()]
        finally:
            await world.close()
        if as_json:
            click.echo(to_json(views))
        elif not views:
            click.echo(
                "no schedules (one is stored when a worker that imports its module starts: "
                "wdk worker --import MODULE)"
            )
        else:
            for view in views:
                click.echo(_line(view))

    run_async(main)


def _set_paused(schedule_id: str, world_url: str | None, as_json: bool, paused: bool) -> None:
    from wdk.errors import ScheduleError

    async def main() -> None:
        from wdk.runtime._ticker import set_paused

        world = open_cli_world(world_url)
        try:
            info = await set_paused(world, schedule_id, paused, time.time())
        finally:
            await world.close()
        view = _view(info)
        click.echo(to_json(view) if as_json else _line(view))

    run_async(main, bad_input=(ScheduleError,))


@schedules.command("pause")
@click.argument("schedule_id", metavar="ID")
@world_option
@json_option
def pause(schedule_id: str, world_url: str | None, as_json: bool) -> None:
    """Stop starting runs for ID (runs going on are left alone). Exits 2 for an unknown ID."""
    _set_paused(schedule_id, world_url, as_json, True)


@schedules.command("resume")
@click.argument("schedule_id", metavar="ID")
@world_option
@json_option
def resume(schedule_id: str, world_url: str | None, as_json: bool) -> None:
    """Start runs for ID again from its next tick; ticks while paused are skipped."""
    _set_paused(schedule_id, world_url, as_json, False)


@schedules.command("trigger")
@click.argument("schedule_id", metavar="ID")
@world_option
@json_option
def trigger(schedule_id: str, world_url: str | None, as_json: bool) -> None:
    """Start one run of ID now, outside its ticks (paused or not); prints the run id."""
    from wdk.errors import ScheduleError

    async def main() -> None:
        from wdk.runtime._ticker import trigger as start_now

        world = open_cli_world(world_url)
        try:
            run_id = await start_now(world, schedule_id)
        finally:
            await world.close()
        click.echo(to_json({"id": schedule_id, "run_id": run_id}) if as_json else run_id)

    run_async(main, bad_input=(ScheduleError,))
