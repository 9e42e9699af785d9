"""``wdk inspect hooks`` and ``wdk inspect streams RUN_ID``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from wdk.cli._common import (
    RUN_INPUT_ERRORS,
    open_cli_world,
    run_async,
    to_json,
    world_option,
)
from wdk.cli._inspect import inspect

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _ts(value: float | None) -> str:
    if not value:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _hook_row(hook: Any) -> dict[str, Any]:
    from wdk._delivery import decode_hook

    try:
        metadata, meta = decode_hook(hook)
    except Exception:  # noqa: BLE001 - display only
        metadata, meta = f"<{len(hook.metadata or b'')} bytes>", None
    return {
        "token": hook.token,
        "run_id": hook.run_id,
        "kind": hook.kind,
        "metadata": metadata,
        "schema": getattr(meta, "schema", None),
        "respond_with": getattr(meta, "webhook", None),
        "created_at": hook.created_at,
    }


@inspect.command("hooks")
@world_option
@click.option(
    "--run", "run_id", default=None, help="Only hooks of this run (its id or a unique prefix)."
)
@json_option
def hooks(world_url: str | None, run_id: str | None, as_json: bool) -> None:
    """List live hooks and webhooks, oldest first."""

    async def main() -> None:
        from wdk.runtime._deploys import resolve_run_id

        world = open_cli_world(world_url)
        await world.setup()
        try:
            only = None if run_id is None else await resolve_run_id(world, run_id)
            rows = [_hook_row(h) for h in await world.list_hooks(only)]
        finally:
            await world.close()
        if as_json:
            click.echo(to_json(rows))
            return
        table = Table(title="live hooks")
        for col in ("token", "run id", "kind", "metadata", "created"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["token"],
                r["run_id"],
                r["kind"],
                to_json(r["metadata"])[:60],
                _ts(r["created_at"]),
            )
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)


@inspect.command("streams")
@click.argument("run_id")
@world_option
@click.option("--namespace", default=None, help="Print this stream's chunks instead.")
@click.option("--start", "start_index", default=0, show_default=True, help="First chunk index.")
@click.option("--follow", is_flag=True, help="With --namespace: keep following live output.")
@json_option
def streams(
    run_id: str,
    world_url: str | None,
    namespace: str | None,
    start_index: int,
    follow: bool,
    as_json: bool,
) -> None:
    """List a run's streams, or print one stream's chunks (one JSON line each)."""

    async def main() -> None:
        nonlocal run_id
        from wdk.runtime._deploys import resolve_run_id

        world = open_cli_world(world_url)
        await world.setup()
        try:
            run_id = await resolve_run_id(world, run_id)  # the id or a unique prefix
            if namespace is not None:
                await _print_chunks(world, run_id, namespace, start_index, follow)
                return
            rows = []
            for ns in sorted(await world.list_streams(run_id)):
                info = await world.stream_info(run_id, ns)
                rows.append({"namespace": ns, "tail_index": info.tail_index, "closed": info.closed})
        finally:
            await world.close()
        if as_json:
            click.echo(to_json(rows))
            return
        table = Table(title=f"streams of {run_id}")
        for col in ("namespace", "chunks", "closed"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["namespace"], str(r["tail_index"] + 1), "yes" if r["closed"] else "no")
        Console().print(table)

    run_async(main, bad_input=RUN_INPUT_ERRORS)


async def _print_chunks(world: Any, run_id: str, namespace: str, start: int, follow: bool) -> None:
    import json

    from wdk.serde._json import encoded_json
    from wdk.server._sse import resolve_start

    index = await resolve_start(world, run_id, namespace, start)
    if not follow:
        while chunks := await world.read_chunks(run_id, namespace, index, 1000):
            for chunk in chunks:
                click.echo(json.dumps({"index": chunk.index, "value": encoded_json(chunk.data)}))
                index = chunk.index + 1
        return
    from wdk.api import get_run

    readable: Any = get_run(run_id, world=world).get_readable(
        namespace=namespace, start_index=index
    )
    async for value in readable:
        from wdk.serde._json import to_jsonable

        try:
            shown = to_jsonable(value)
        except TypeError:
            shown = repr(value)
        click.echo(json.dumps({"index": readable.next_index - 1, "value": shown}))
