"""``wdk replay``: the deploy gate.

Replays recorded histories against the code in the source root(s) and says which runs would
diverge, without running a step, sleeping or writing anything: this module only reads (the
world's runs, or exported history files) and calls :mod:`wdk.runtime._deploys`. Exit codes
are the contract CI relies on: 0 every run replays, 1 some run does not, 2 bad input.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from wdk.cli._common import (
    RUN_INPUT_ERRORS,
    one_line,
    open_cli_world,
    root_option,
    run_async,
    setup_project,
    to_json,
    world_option,
)
from wdk.errors import WorkflowError
from wdk.worlds.base import RunStatus

__all__ = ["replay"]

_DEFAULT_STATUSES = (RunStatus.RUNNING, RunStatus.BLOCKED)


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _report(results: list[Any], files: list[Path] | None, statuses: tuple[str, ...]) -> int:
    """Print the human-readable outcome; the exit code (0 all replay, 1 some diverge)."""
    failed = [(i, r) for i, r in enumerate(results) if not r.ok]
    if not results:
        click.echo(f"no runs to replay (status {', '.join(statuses)})")
        return 0
    if not failed:
        verb = "replays" if len(results) == 1 else "replay"
        click.echo(f"{_runs(len(results))} {verb} on the current code")
        return 0
    for i, r in failed:
        where = [f"event #{r.event}" if r.event is not None else "no event"]
        if r.location:
            where.append(r.location)
        source = f"{files[i]}: " if files is not None else ""
        click.echo(
            f"{source}{r.run_id} ({r.workflow_id}): {r.code or 'DIVERGED'} at " + ", ".join(where)
        )
        for line in (r.message or "the code no longer matches the run's log").splitlines():
            click.echo(f"    {line}")
        if r.suggestion:
            click.echo(f"    fix: {r.suggestion}")
    click.echo(f"{len(failed)} of {_runs(len(results))} do not replay on the current code")
    return 1


def _print_json(results: list[Any], files: list[Path] | None) -> int:
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(results):
        row = dataclasses.asdict(r)
        if files is not None:
            row["history"] = str(files[i])
        rows.append(row)
    click.echo(to_json(rows))
    return 0 if all(r.ok for r in results) else 1


def _replay_files(files: tuple[Path, ...], project: Any) -> list[Any]:
    """Load and replay each exported history; a file that is not one exits 2 naming it."""
    from wdk.runtime._deploys import load_history, replay_history

    histories = []
    for path in files:
        try:
            histories.append(load_history(path))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
            named = reason if str(path) in reason else f"{path}: {reason}"
            click.echo(f"error: {named}", err=True)
            raise SystemExit(2) from None
    return [replay_history(h, project) for h in histories]


@click.command("replay")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--history",
    "history",
    is_flag=True,
    help="Replay the exported history FILES (from `wdk export`) instead of the world's runs; "
    "no world is opened.",
)
@click.option("--run", "run_id", default=None, help="Only this run (its id or a unique prefix).")
@click.option("--workflow", default=None, help="Only runs of this workflow ID.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(RunStatus.ALL),
    help="Only runs with this status (repeatable). Default: running and blocked.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N runs.")
@world_option
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list.")
def replay(
    files: tuple[Path, ...],
    history: bool,
    run_id: str | None,
    workflow: str | None,
    statuses: tuple[str, ...],
    limit: int | None,
    world_url: str | None,
    roots: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Check that in-flight runs replay on the current code: a deploy gate.

    Replays each selected run's recorded history against the code under --root without
    running any step, sleeping or writing anything. Exits 0 when every run replays, 1 when
    some diverge (each is listed with its event #, your file:line and how to fix it: usually
    wrap the change in `if wdk.patched("name"):`), 2 on bad input.

    \b
    wdk replay                                   # every running or blocked run in the world
    wdk replay --workflow workflow//orders.py//process_order --limit 100
    wdk replay --history tests/histories/*.json  # exported histories; no world needed
    """  # noqa: D301 - "\b" keeps click from rewrapping the examples
    from wdk.sandbox import ensure_hash_seed

    if history or files:
        if not files:
            raise click.UsageError("--history needs at least one FILE (from `wdk export`)")
        given = [
            name
            for name, value in (("--run", run_id), ("--workflow", workflow), ("--limit", limit))
            if value is not None
        ] + (["--status"] if statuses else [])
        if given:
            raise click.UsageError(
                f"{', '.join(given)} select runs in a world; with history FILES, pass only the "
                "files to replay"
            )
    ensure_hash_seed(sys.argv)  # replay must hash (and so order sets) as the workers do
    project = setup_project(roots)
    # --run names one run: replay it whatever its status, unless --status says otherwise.
    chosen = statuses or (RunStatus.ALL if run_id is not None else _DEFAULT_STATUSES)
    shown_files: list[Path] | None = None
    if files:
        shown_files = list(files)
        try:
            results = _replay_files(files, project)
        except WorkflowError as exc:  # e.g. the source root does not build
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
    else:

        async def main() -> list[Any]:
            from wdk.runtime._deploys import replay_runs, resolve_run_id

            world = open_cli_world(world_url)
            await world.setup()
            try:
                full_id = await resolve_run_id(world, run_id) if run_id is not None else None
                return await replay_runs(
                    world,
                    project,
                    run_id=full_id,
                    workflow_id=workflow,
                    statuses=tuple(chosen),
                    limit=limit,
                )
            finally:
                await world.close()

        results = run_async(main, bad_input=RUN_INPUT_ERRORS)
    code = _print_json(results, shown_files) if as_json else _report(results, shown_files, chosen)
    raise SystemExit(code)
