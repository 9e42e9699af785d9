"""``build_tree``: compile every ``.py`` file under a source root and write the bundles.

Layout under ``out``: ``workflow/<relpath>``, ``step/<relpath>`` and ``manifest.json``. A build
with errors writes nothing (the previous output stays intact). Writing is incremental: a file
whose content hash matches the previous build's (``.wdk-build.json`` beside the manifest)
keeps its bundles; bundles of deleted files are removed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wdk.compiler._cache import COMPILER_VERSION, compile_bytes
from wdk.compiler._manifest import build_manifest, dump_manifest
from wdk.compiler._model import BuildResult, ModuleResult

__all__ = ["build_tree", "iter_sources", "module_name_of"]

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})
_STATE = ".wdk-build.json"


def module_name_of(relpath: str) -> str:
    """``app/orders.py`` -> ``app.orders``; ``app/__init__.py`` -> ``app``."""
    parts = relpath[:-3].split("/") if relpath.endswith(".py") else relpath.split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def iter_sources(src: Path, skip: Path | None = None) -> list[tuple[str, Path]]:
    """Sorted ``(relpath, path)`` of the ``.py`` files under ``src``.

    Hidden directories, ``__pycache__``, virtualenvs and ``skip`` (the output) are left out.
    """
    if src.is_file():
        return [(src.name, src)]
    skip_resolved = skip.resolve() if skip is not None else None
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        base = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in _SKIP_DIRS
            and (skip_resolved is None or (base / d).resolve() != skip_resolved)
        ]
        rel_dir = base.relative_to(src).as_posix()
        for name in filenames:
            if name.endswith(".py"):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                found.append((rel, base / name))
    found.sort()
    return found


def build_tree(
    src: Path, out: Path | None, *, check: bool = False, cache_dir: Path | None = None
) -> BuildResult:
    """Compile the tree rooted at ``src``; write bundles and ``manifest.json`` under ``out``.

    Args:
        src: The source root (a directory on ``sys.path``), or a single file.
        out: Output directory; None writes nothing.
        check: Only compile and report; never write.
        cache_dir: Compiler cache directory (default ``$WDK_CACHE_DIR`` or
            ``.wdk/cache/compiler``).

    Returns:
        The manifest, per-file results and every diagnostic. Nothing is written when any
        diagnostic is an error.
    """
    src = Path(src)
    modules: dict[str, ModuleResult] = {}
    for relpath, path in iter_sources(src, out):
        modules[relpath] = compile_bytes(
            path.read_bytes(), module=module_name_of(relpath), relpath=relpath, cache_dir=cache_dir
        )
    manifest = build_manifest(modules.values())
    diagnostics = sorted(
        (d for r in modules.values() for d in r.diagnostics),
        key=lambda d: (d.file, d.line, d.col, d.code),
    )
    result = BuildResult(manifest=manifest, modules=modules, diagnostics=diagnostics)
    if check or out is None or not result.ok:
        return result
    _write_out(Path(out), modules, manifest)
    return BuildResult(manifest=manifest, modules=modules, diagnostics=diagnostics, written=True)


def _read_state(out: Path) -> dict[str, str]:
    try:
        state: dict[str, Any] = json.loads((out / _STATE).read_text())
    except (OSError, ValueError):
        return {}
    if state.get("compiler") != COMPILER_VERSION or not isinstance(state.get("files"), dict):
        return {}
    return {str(k): str(v) for k, v in state["files"].items()}


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _write_out(out: Path, modules: dict[str, ModuleResult], manifest: dict[str, Any]) -> None:
    previous = _read_state(out)
    for relpath, result in modules.items():
        wf, st = out / "workflow" / relpath, out / "step" / relpath
        if previous.get(relpath) == result.sha256 and wf.is_file() and st.is_file():
            continue
        for path, text in ((wf, result.workflow_bundle), (st, result.step_bundle)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for relpath in previous.keys() - modules.keys():
        for side in ("workflow", "step"):
            (out / side / relpath).unlink(missing_ok=True)
    _write_if_changed(out / "manifest.json", dump_manifest(manifest))
    state = {"compiler": COMPILER_VERSION, "files": {r: m.sha256 for r, m in modules.items()}}
    _write_if_changed(out / _STATE, json.dumps(state, indent=1, sort_keys=True) + "\n")
