"""``wdk export RUN_ID [-o FILE]``: a run's history as JSON (``wdk-history/1``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from wdk.cli._common import RUN_INPUT_ERRORS, open_cli_world, run_async, world_option

__all__ = ["dump_history", "export"]


def dump_history(history: dict[str, Any]) -> str:
    """The stable text form of an exported history: 2-space indent, sorted keys, a newline.

    Stable so that histories kept in a repository (``tests/histories/``) diff cleanly.
    """
    return json.dumps(history, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@click.command("export")
@click.argument("run_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the history to FILE instead of stdout.",
)
@world_option
def export(run_id: str, output: Path | None, world_url: str | None) -> None:
    """Print a run's history (its whole event log) as JSON, for `wdk replay --history`.

    RUN_ID may be a unique prefix. Keep exported production histories under tests/histories/
    and replay them in CI (docs/deploys.md). Exits 2 when no run (or several) match.
    """

    async def main() -> str:
        from wdk.runtime._deploys import export_history, resolve_run_id

        world = open_cli_world(world_url)
        await world.setup()
        try:
            full_id = await resolve_run_id(world, run_id)
            history = await export_history(world, full_id)
        finally:
            await world.close()
        return dump_history(history)

    text = run_async(main, bad_input=RUN_INPUT_ERRORS)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc.strerror}", err=True)
        raise SystemExit(2) from None
    click.echo(f"wrote {output}", err=True)
