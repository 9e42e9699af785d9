"""``wdk build SRC``: compile a source tree into workflow/step bundles and a manifest."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

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
@click.option(
    "--fix",
    is_flag=True,
    help="Apply the fix of each diagnostic that has one (directive typos and string forms) "
    "to the source files, printing a unified diff.",
)
@click.option(
    "--diff", "show_diff", is_flag=True, help="Print the diff --fix would apply; change nothing."
)
def build(src: Path, out: Path, check: bool, as_json: bool, fix: bool, show_diff: bool) -> None:
    """Compile SRC (a source root) into bundles; exit 1 on any build error."""
    from wdk.compiler import build_tree, dump_manifest

    if fix or show_diff:
        _fix_tree(src, out, write=fix and not check)
    result = build_tree(src, out, check=check)
    root = src if src.is_dir() else src.parent
    for diag in result.diagnostics:
        where = (root / diag.file).as_posix()
        line = f"{where}:{diag.line}:{diag.col}: {diag.severity}[{diag.code}]: {diag.message}"
        click.echo(line, err=True)
        if diag.fix:
            click.echo(f"  help: {diag.fix}", err=True)
    refused = sandbox_refusals(result, root)
    for relpath, node, message in refused:
        where = (root / relpath).as_posix()
        click.echo(
            f"{where}:{node.lineno}:{node.col_offset + 1}: error[sandbox]: {message}", err=True
        )
    if as_json:
        click.echo(dump_manifest(result.manifest), nl=False)
    errors = len(result.errors) + len(refused)
    warnings = len(result.diagnostics) - len(result.errors)
    files = len({d.file for d in result.errors} | {r[0] for r in refused})
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


def sandbox_refusals(result: Any, root: Path) -> list[tuple[str, ast.stmt, str]]:
    """The imports of each workflow bundle that the sandbox would refuse when a run starts.

    A user module (a file of the build) is always importable; any other module must be one
    the sandbox allows (pyproject ``[tool.wdk] sandbox-allowed-modules`` included).
    """
    from wdk.errors import SandboxError
    from wdk.sandbox import allows_import, load_config
    from wdk.sandbox._imports import refuse_import, resolve_relative

    config = load_config(root if (root / "pyproject.toml").is_file() else None)
    users = {m.module for m in result.modules.values()}
    packages = {name.rpartition(".")[0] for name in users} | users
    found: list[tuple[str, ast.stmt, str]] = []
    for relpath, module in sorted(result.modules.items()):
        if not module.workflows:
            continue
        is_pkg = relpath.endswith("__init__.py")
        package = module.module if is_pkg else module.module.rpartition(".")[0]
        for node in ast.walk(ast.parse(module.workflow_bundle)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = resolve_relative(base, package, node.level)
                names = [base]
            else:
                continue
            for name in names:
                if name in packages or name.partition(".")[0] in packages:
                    continue
                if not allows_import(name, config):
                    try:
                        refuse_import(name)
                    except SandboxError as exc:
                        found.append((relpath, node, str(exc)))
    return found


def _fix_tree(src: Path, out: Path, *, write: bool) -> None:
    """Print (and with ``write``, apply) the fixes of every file under ``src``."""
    from wdk.compiler._build import iter_sources, module_name_of
    from wdk.compiler._compile import maybe_has_directives
    from wdk.compiler._fix import fix_source, unified_diff

    root = src if src.is_dir() else src.parent
    fixes = 0
    for relpath, path in iter_sources(src, skip=out):
        source = path.read_bytes().decode("utf-8")  # bytes: line endings stay as they are
        if not maybe_has_directives(source):
            continue
        result = fix_source(source, relpath=relpath, module=module_name_of(relpath))
        if not result.changed:
            continue
        fixes += len(result.fixed)
        click.echo(unified_diff(source, result.source, (root / relpath).as_posix()), nl=False)
        if write:
            path.write_bytes(result.source.encode("utf-8"))
    verb = "fixed" if write else "would fix"
    click.echo(f"{verb} {fixes} problem{'s' if fixes != 1 else ''}", err=True)
