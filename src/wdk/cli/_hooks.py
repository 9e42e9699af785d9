"""``wdk hooks resume TOKEN JSON``."""

from __future__ import annotations

from pathlib import Path

import click

from wdk.cli._common import (
    open_cli_world,
    parse_arg,
    root_option,
    run_async,
    setup_project,
    world_option,
)


@click.group("hooks")
def hooks() -> None:
    """Act on hooks from the command line."""


@hooks.command("resume")
@click.argument("token")
@click.argument("payload")
@world_option
@root_option
def resume(token: str, payload: str, world_url: str | None, roots: tuple[Path, ...]) -> None:
    """Deliver PAYLOAD (a JSON value; other text is sent as a string) to the hook TOKEN.

    A hook made with define_hook(schema) validates the payload first; a rejected payload is
    not stored and the field errors are printed.
    """
    setup_project(roots)
    value = parse_arg(0, payload)

    async def main() -> None:
        from wdk._delivery import resume_checked
        from wdk.errors import HookPayloadError

        world = open_cli_world(world_url)
        await world.setup()
        try:
            result = await resume_checked(world, token, value)
        except HookPayloadError as exc:
            for err in exc.errors:
                loc = ".".join(map(str, err.get("loc", []))) or "(root)"
                click.echo(f"  {loc}: {err.get('msg')}", err=True)
            raise
        finally:
            await world.close()
        click.echo(f"resumed run {result.run_id}")

    run_async(main)
