"""Shared CLI plumbing: picking the world and the project, running coroutines, JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from wdk.errors import WorkflowError

T = TypeVar("T")

world_option = click.option(
    "--world",
    "world_url",
    envvar="WDK_WORLD",
    default=None,
    help="Where runs live: sqlite:///path, postgresql://..., memory://. Default: .wdk/wdk.db.",
)
root_option = click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Source root(s) holding your workflow modules. Default: the current directory.",
)


def setup_project(roots: tuple[Path, ...]) -> Any:
    """Make the roots importable and the process-wide project."""
    from wdk.runtime import Project, set_default_project

    paths = [str(r.resolve()) for r in roots] or [os.getcwd()]
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    project = Project(paths)
    set_default_project(project)
    return project


def open_cli_world(url: str | None) -> Any:
    """Open the world named on the command line (or the default)."""
    from wdk.api import set_world
    from wdk.worlds import open_world

    world = open_world(url)
    set_world(world)
    return world


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` to completion, turning wdk errors into a clean message and exit 1."""
    try:
        return anyio.run(fn)
    except WorkflowError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def to_json(value: Any) -> str:
    """JSON for printing: non-JSON values become strings (bytes as text when possible)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray):
            try:
                return bytes(obj).decode()
            except UnicodeDecodeError:
                return bytes(obj).hex()
        if isinstance(obj, set | frozenset | tuple):
            return list(obj)
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        if hasattr(obj, "__dataclass_fields__"):
            import dataclasses

            return dataclasses.asdict(obj)
        return str(obj)

    return json.dumps(value, default=default, ensure_ascii=False)


def parse_arg(index: int, text: str) -> Any:
    """A command-line argument as a JSON value; text that is not JSON stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
