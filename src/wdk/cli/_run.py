"""``wdk run``, ``wdk worker`` and ``wdk cancel``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import click

from wdk.cli._common import (
    RUN_INPUT_ERRORS,
    adopt_option,
    deployment_option,
    import_modules,
    import_option,
    log_level_option,
    open_cli_world,
    parse_arg,
    root_option,
    run_async,
    setup_project,
    to_json,
    use_deployment,
    world_option,
)
from wdk.cli._progress import Progress


def _fix_hash_seed() -> None:
    from wdk.sandbox import ensure_hash_seed

    ensure_hash_seed(sys.argv)


def _workflow_id(target: str, project: Any) -> str:
    from wdk.runtime._loader import relpath_of

    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise click.BadParameter(
            f"{target!r}: expected MODULE:FUNCTION, e.g. orders:process_order", param_hint="TARGET"
        )
    loc = project.locate(module)
    if loc is None:
        roots = ", ".join(map(str, project.roots))
        raise click.BadParameter(f"module {module!r} not found under {roots}", param_hint="TARGET")
    return f"workflow//{relpath_of(module, loc.is_package)}//{name}"


def check_arguments(path: Path, qualname: str, values: list[Any]) -> None:
    """Refuse ``values`` (exit 2, naming the argument) when the workflow cannot take them.

    Checked against the signature in the source, before any run is created: a wrong number of
    arguments would otherwise only show as a failed run in the database.
    """
    import ast
    import inspect

    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == qualname
        ),
        None,
    )
    if node is None:  # a method or a generated workflow: the run reports it
        return
    args = node.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            arg.annotation = None
    # Only the shape matters: defaults become None (their expressions may name anything).
    args.defaults = [ast.Constant(None) for _ in args.defaults]
    args.kw_defaults = [None if d is None else ast.Constant(None) for d in args.kw_defaults]
    namespace: dict[str, Any] = {}
    exec(f"def {qualname}({ast.unparse(args)}): pass", namespace)  # noqa: S102 - a stub
    try:
        inspect.signature(namespace[qualname]).bind(*values)
    except TypeError as exc:
        shape = f"{qualname}({ast.unparse(args)})"
        raise click.UsageError(
            f"{exc} (the workflow is {shape}; got {len(values)} argument"
            f"{'' if len(values) == 1 else 's'}); nothing was started"
        ) from None


def user_frames(stack: str) -> str:
    """A traceback without wdk's own frames (all of them with ``WDK_DEBUG=1``)."""
    if os.environ.get("WDK_DEBUG", "") not in ("", "0"):
        return stack
    ours = f'  File "{Path(__file__).resolve().parents[1]}{os.sep}'  # src/wdk/
    kept: list[str] = []
    skipping = False
    for line in stack.splitlines():
        if line.startswith('  File "'):
            skipping = line.startswith(ours)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


async def _failed_step(world_url: str | None, run_id: str, message: str) -> str:
    """`` (step NAME failed after N attempts)`` when the run failed of a step's error, else ""."""
    from wdk.cli._inspect_runs import step_rows

    world = open_cli_world(world_url)
    try:
        rows = step_rows(await world.read_events(run_id))
    finally:
        await world.close()
    failed = [r for r in rows if r["status"] == "failed" and message in str(r["error"])]
    if not failed:
        return ""
    row = failed[-1]
    name = str(row["name"]).rpartition("//")[2]
    n = row["attempts"]
    return f" (step {name} failed after {n} attempt{'' if n == 1 else 's'})"


def _stderr_sink(run_id: str, text: str) -> None:
    click.echo(text, err=True)


@click.command("run")
@click.argument("target")
@click.argument("args", nargs=-1)
@world_option
@root_option
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Steps run at once.",
)
@deployment_option
@click.option(
    "--detach",
    is_flag=True,
    default=False,
    help="Start the run, print its id and exit 0 at once; a `wdk worker` runs it.",
)
@click.option(
    "--quiet", "-q", is_flag=True, default=False, help="No progress lines: only the result."
)
@click.option("--queue", default=None, help="Start on this wdk.Queue (docs/flow-control.md).")
@click.option("--key", default=None, help="The queue key (per-key limits, debounce).")
@click.option("--priority", default=None, type=int, help="Higher starts first on the queue.")
@click.option(
    "--dedupe-key", default=None, help="While a run with this key is unfinished, answer it."
)
@click.option("--debounce", default=None, help='Collapse starts with this --key, e.g. "5s".')
@click.option("--delay", default=None, help='Start no sooner than this, e.g. "10m".')
def run(
    target: str,
    args: tuple[str, ...],
    world_url: str | None,
    roots: tuple[Path, ...],
    concurrency: int,
    deployment: str | None,
    detach: bool,
    quiet: bool,
    **flow: Any,
) -> None:
    """Start MODULE:FUNCTION with ARGS (JSON values) and run it to the end in-process.

    Shows progress on stderr (the run id first, then each step, retry, sleep and hook wait),
    prints the return value as JSON on stdout and exits 0, or prints the error (with your
    file:line) and exits 1. The arguments are checked against the workflow's signature first
    (exit 2, nothing started). An argument that is not JSON is taken as a string, with a note.
    On Ctrl-C the run stays: `wdk worker` resumes it, `wdk cancel RUN_ID` stops it (exit 130).
    """
    _fix_hash_seed()
    # The progress lines and the result say what the worker's log would: only real trouble.
    logging.getLogger("wdk.worker").setLevel(logging.ERROR)
    worker_kwargs = use_deployment(deployment)
    project = setup_project(roots)
    workflow_id = _workflow_id(target, project)
    values = [parse_arg(i, a) for i, a in enumerate(args)]

    async def main() -> int:
        from wdk import serde
        from wdk.api import start
        from wdk.errors import (
            DurationError,
            QueueError,
            WorkflowRunCancelledError,
            WorkflowRunFailedError,
        )
        from wdk.runtime import Worker
        from wdk.worlds.base import RunStatus

        world = open_cli_world(world_url)
        # Clear errors now rather than a failed run in the database.
        module, qualname = project.workflow_target(workflow_id)
        check_arguments(project.locate(module).path, qualname, values)
        options = {name: value for name, value in flow.items() if value is not None}
        try:
            handle = await start(workflow_id, values, world=world, **options)
        except (QueueError, DurationError) as bad:
            raise click.UsageError(f"{bad}; nothing was started") from None
        started["run_id"] = handle.run_id
        if detach:
            await world.close()
            click.echo(handle.run_id)
            return 0
        progress = Progress(world, handle.run_id, quiet=quiet)
        progress.say(f"run {handle.run_id} started: {workflow_id}", "bold")
        worker = Worker(
            world,
            project,
            concurrency=concurrency,
            log_sink=_stderr_sink,
            schedules=False,  # a one-off run: schedules are the long-running workers' job
            **worker_kwargs,
        )
        outcome: dict[str, Any] = {}

        async def wait() -> None:
            rid = handle.run_id
            try:
                # Until it ends, or is blocked (this code cannot advance it: never a hang).
                while (info := await handle.info()).status not in RunStatus.TERMINAL:
                    if info.status == RunStatus.BLOCKED:
                        outcome["blocked"] = serde.decode(info.error) if info.error else {}
                        return
                    await world.wait_for_change([f"done:{rid}", f"run:{rid}"], 5.0)
                outcome["value"] = await handle.return_value()
            except (WorkflowRunFailedError, WorkflowRunCancelledError) as exc:
                outcome["error"] = exc
            finally:
                worker.stop()

        follow = anyio.CancelScope()

        async def watch() -> None:
            with follow:
                await progress.follow()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            tg.start_soon(wait)
            await worker.run()
            follow.cancel()
        await progress.drain()  # the last events, before the result
        await world.close()
        if "blocked" in outcome:
            block = outcome["blocked"]
            where = f" ({block['location']})" if block.get("location") else ""
            click.echo(
                f"run {handle.run_id} is blocked{where}: {block.get('message', '')}", err=True
            )
            click.echo(f"Fix the code, then `wdk retry {handle.run_id}`.", err=True)
            return 1
        if "error" in outcome:
            exc = outcome["error"]
            message = getattr(getattr(exc, "cause", None), "message", "")
            failed = await _failed_step(world_url, handle.run_id, message) if message else ""
            click.echo(f"{exc}{failed}", err=True)  # "run <id> failed: <message>", once
            stack = getattr(getattr(exc, "cause", None), "stack", "")
            if stack:
                click.echo(user_frames(stack).rstrip(), err=True)
            return 1
        click.echo(to_json(outcome.get("value")))
        return 0

    started: dict[str, str] = {}
    try:
        code = run_async(main)
    except KeyboardInterrupt:
        rid = started.get("run_id")
        if rid is None:
            click.echo("interrupted before the run was started; nothing to resume", err=True)
        else:
            click.echo(
                f"interrupted: run {rid} is kept with every finished step; `wdk worker` "
                f"resumes it, `wdk cancel {rid}` stops it",
                err=True,
            )
        code = 130
    raise SystemExit(code)


@click.command("worker")
@world_option
@root_option
@click.option(
    "--concurrency",
    "-c",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="Queue slots and inline steps.",
)
@click.option(
    "--lease",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a claimed message is ours.",
)
@import_option
@deployment_option
@adopt_option
@log_level_option
def worker(
    world_url: str | None,
    roots: tuple[Path, ...],
    concurrency: int,
    lease: float,
    imports: tuple[str, ...],
    deployment: str | None,
    adopt: bool,
    log_level: str,
) -> None:
    """Run queued workflow and step work until SIGTERM (then drain and exit).

    With --deployment the worker takes only runs of that deployment (blue/green: old workers
    drain old runs); --adopt also takes the others' runs. See docs/deploys.md. The
    schedules of the modules given with --import tick here (docs/flow-control.md).
    """
    _fix_hash_seed()
    worker_kwargs = use_deployment(deployment, adopt)
    project = setup_project(roots)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    import_modules(project, imports)

    async def main() -> None:
        from wdk.runtime import Worker

        world = open_cli_world(world_url)
        await world.setup()
        w = Worker(world, project, concurrency=concurrency, lease_s=lease, **worker_kwargs)
        pinned = f", deployment {deployment}" if deployment else ""
        pinned += ", adopting other deployments' runs" if adopt else ""
        click.echo(
            f"wdk worker {w.worker_id} on {world.url} (concurrency {concurrency}{pinned})",
            err=True,
        )
        await w.run(handle_signals=True)
        await world.close()

    run_async(main)


@click.command("cancel")
@click.argument("run_id")
@world_option
def cancel(run_id: str, world_url: str | None) -> None:
    """Cancel a run: it ends cancelled, in-flight steps are not re-queued.

    RUN_ID may be a unique prefix of the id. Exits 2 when no run (or several) match.
    """

    async def main() -> None:
        from wdk.api import get_run
        from wdk.runtime._deploys import resolve_run_id

        world = open_cli_world(world_url)
        try:
            rid = await resolve_run_id(world, run_id)
            await get_run(rid, world=world).cancel()
        finally:
            await world.close()
        click.echo(f"cancelled {rid}")

    run_async(main, bad_input=RUN_INPUT_ERRORS)
