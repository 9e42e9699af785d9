"""``wdk fork RUN_ID [--from-step N]``: a new run reusing a run's first steps."""

from __future__ import annotations

import click

from wdk.cli._common import (
    RUN_INPUT_ERRORS,
    deployment_option_for,
    open_cli_world,
    run_async,
    world_option,
)

__all__ = ["fork"]


@click.command("fork")
@click.argument("run_id")
@click.option(
    "--from-step",
    "from_step",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Reuse the results of the run's first N completed steps (in the order they "
    "completed). Default: every step completed before the first failed one.",
)
@deployment_option_for(
    "Pin the new run to this deployment (its workers run it). Unset: a hash of the "
    "current workflow code, like a run started here."
)
@world_option
def fork(run_id: str, from_step: int | None, deployment: str | None, world_url: str | None) -> None:
    """Start a new run of RUN_ID's workflow and input that reuses its first steps' results.

    The rest runs on the current code: fix the bug that failed a run, deploy, then fork it to
    go on from the failed step without redoing the steps before it. RUN_ID may be a unique
    prefix. Prints the new run's id alone on stdout (scripts can capture it); the new run
    records the run it was forked from. Exits 2 when no run (or several) match or N is more
    than the run's completed steps.
    """

    async def main() -> None:
        from wdk.runtime._deploys import fork_run, resolve_run_id

        world = open_cli_world(world_url)
        await world.setup()
        try:
            full_id = await resolve_run_id(world, run_id)
            new_id = await fork_run(world, full_id, from_step=from_step, deployment_id=deployment)
        finally:
            await world.close()
        click.echo(f"forked {full_id}", err=True)
        click.echo(new_id)

    run_async(main, bad_input=RUN_INPUT_ERRORS)
