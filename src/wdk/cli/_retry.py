"""``wdk retry RUN_ID``: try a blocked run again now."""

from __future__ import annotations

import click

from wdk.cli._common import RUN_INPUT_ERRORS, open_cli_world, run_async, world_option

__all__ = ["retry"]


@click.command("retry")
@click.argument("run_id")
@world_option
def retry(run_id: str, world_url: str | None) -> None:
    """Try a blocked run again now (RUN_ID: the id or a unique prefix of it).

    The run goes back to running and its work is queued again: a worker whose code matches
    the run's log (or has the missing workflow or step) finishes it; otherwise it is blocked
    again with the reason. Exits 2 when no run (or several) match, or the run is not blocked.
    """

    async def main() -> None:
        from wdk.runtime._deploys import resolve_run_id, retry_run

        world = open_cli_world(world_url)
        await world.setup()
        try:
            full_id = await resolve_run_id(world, run_id)
            await retry_run(world, full_id)
        finally:
            await world.close()
        click.echo(f"run {full_id} is running again")

    run_async(main, bad_input=RUN_INPUT_ERRORS)
