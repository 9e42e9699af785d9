"""``wdk inspect``: the group, and ``wdk inspect bundle [DIR]`` (a build's manifest as tables).

Other modules add subcommands to :data:`inspect` (``runs``, ``run``, ``events``, ``steps``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["inspect"]


@click.group("inspect")
def inspect() -> None:
    """Look at builds and runs."""


def _load_manifest(path: Path) -> dict[str, Any]:
    target = path / "manifest.json" if path.is_dir() else path
    try:
        data: dict[str, Any] = json.loads(target.read_text())
    except FileNotFoundError:
        raise click.ClickException(
            f"no manifest at {target.as_posix()}; run `wdk build` first"
        ) from None
    except ValueError as exc:
        raise click.ClickException(f"{target.as_posix()} is not valid JSON: {exc}") from None
    return data


@inspect.command("bundle")
@click.argument(
    "directory", type=click.Path(path_type=Path), default=Path(".wdk/build"), required=False
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest JSON instead.")
def bundle(directory: Path, as_json: bool) -> None:
    """Show the workflows, steps and files of a build (DIR defaults to .wdk/build)."""
    manifest = _load_manifest(directory)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    workflows = Table(title="Workflows", title_justify="left")
    for col in ("id", "file:line"):
        workflows.add_column(col)
    for wf in manifest.get("workflows", []):
        workflows.add_row(wf["id"], f"{wf['file']}:{wf['line']}")
    steps = Table(title="Steps", title_justify="left")
    for col in ("id", "kind", "captures", "bind", "max_retries", "file:line"):
        steps.add_column(col)
    for st in manifest.get("steps", []):
        retries = st.get("max_retries")
        steps.add_row(
            st["id"],
            st["kind"],
            ", ".join(st.get("captures", [])),
            st.get("bind") or "",
            "" if retries is None else str(retries),
            f"{st['file']}:{st['line']}",
        )
    files = Table(title="Files", title_justify="left")
    for col in ("file", "module", "sha256", "pruned imports"):
        files.add_column(col)
    for relpath, info in manifest.get("files", {}).items():
        files.add_row(
            relpath, info["module"], info["sha256"][:12], ", ".join(info["pruned_imports"])
        )
    console.print(workflows)
    console.print(steps)
    console.print(files)
