"""``wdk build SRC``: compile a source tree into workflow/step bundles and a manifest."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["build"]


@click.command("build")
@click.argument(
    "src", type=click.Path(exists=True, path_type=Path), default=Path("."), required=False
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".wdk/build"),
    show_default=True,
    help="Where bundles and manifest.json are written.",
)
@click.option("--check", is_flag=True, help="Only report problems; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def build(src: Path, out: Path, check: bool, as_json: bool) -> None:
    """Compile SRC (a source root) into bundles; exit 1 on any build error."""
    from wdk.compiler import build_tree, dump_manifest

    result = build_tree(src, out, check=check)
    root = src if src.is_dir() else src.parent
    for diag in result.diagnostics:
        where = (root / diag.file).as_posix()
        line = f"{where}:{diag.line}:{diag.col}: {diag.severity}[{diag.code}]: {diag.message}"
        click.echo(line, err=True)
        if diag.fix:
            click.echo(f"  help: {diag.fix}", err=True)
    if as_json:
        click.echo(dump_manifest(result.manifest), nl=False)
    errors = len(result.errors)
    warnings = len(result.diagnostics) - errors
    files = len({d.file for d in result.errors})
    manifest = result.manifest
    counts = (
        f"{len(manifest['files'])} files, {len(manifest['workflows'])} workflows, "
        f"{len(manifest['steps'])} steps"
    )
    notes = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    if errors:
        click.echo(
            f"error: build failed: {errors} error{'s' if errors != 1 else ''} in {files} "
            f"file{'s' if files != 1 else ''}{notes}",
            err=True,
        )
        sys.exit(1)
    if check:
        click.echo(f"ok: {counts}{notes} (checked, nothing written)", err=True)
    else:
        click.echo(f"built {counts}{notes} -> {out.as_posix()}", err=True)
