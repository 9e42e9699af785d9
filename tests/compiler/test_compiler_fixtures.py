"""Golden tests over fixtures/compiler/<case>/src.

Each case's ``expected/`` holds ``errors.txt`` (every diagnostic, warnings included) and, when
the build succeeds, exactly what ``build_tree`` writes: ``manifest.json``,
``workflow/<relpath>`` and ``step/<relpath>``. Regenerate with ``WDK_UPDATE_GOLDENS=1``.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import pytest

from wdk.compiler import ModuleResult, build_tree

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compiler"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "src").is_dir())
UPDATE = os.environ.get("WDK_UPDATE_GOLDENS") == "1"


def _tree(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _build(case: str, tmp_path: Path) -> tuple[dict[str, str], dict[str, ModuleResult]]:
    out = tmp_path / "out"
    result = build_tree(FIXTURES / case / "src", out, cache_dir=tmp_path / "cache")
    files = _tree(out)
    errors = "".join(f"{d}\n" for d in result.diagnostics)
    files["errors.txt"] = errors
    assert result.written == result.ok
    return files, result.modules


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    actual, _ = _build(case, tmp_path)
    expected_dir = FIXTURES / case / "expected"
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in actual.items():
            path = expected_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    expected = _tree(expected_dir)
    assert sorted(actual) == sorted(expected)
    for rel, text in expected.items():
        assert actual[rel] == text, f"{case}/{rel} differs (WDK_UPDATE_GOLDENS=1 to regenerate)"


def test_every_case_is_covered() -> None:
    ok = [c for c in CASES if not c.startswith("err_")]
    errors = [c for c in CASES if c.startswith("err_")]
    assert len(ok) >= 8 and len(errors) >= 10


def _rewritten_lines(source: str, result: ModuleResult) -> set[int]:
    """The only lines a workflow bundle may change: step bodies and pruned imports.

    A step stub keeps its ``def`` line and signature, and every whole-line comment of its
    body, so those are *not* in the set: its decorator lines and other body lines are. A step
    with no line free for the proxy becomes one assignment line: all its lines are in the set.
    """
    tree = ast.parse(source)
    src_lines = source.splitlines()
    bundle = result.workflow_bundle.splitlines()
    step_lines = {s.line for s in result.steps}
    owned: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.lineno not in step_lines:
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        end = node.end_lineno or node.lineno
        if bundle[node.lineno - 1] != src_lines[node.lineno - 1]:  # the one-line form
            owned.update(range(start, end + 1))
            continue
        owned.update(range(start, node.lineno))
        first = node.body[0]
        body_start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
        for number in range(body_start, end + 1):
            if not src_lines[number - 1].lstrip().startswith("#"):
                owned.add(number)
    if result.pruned_imports:
        for stmt in tree.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                owned.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return owned


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("err_")])
def test_bundles_keep_lines(case: str, tmp_path: Path) -> None:
    _, modules = _build(case, tmp_path)
    for relpath, result in modules.items():
        source = (FIXTURES / case / "src" / relpath).read_text()
        ast.parse(result.workflow_bundle)
        ast.parse(result.step_bundle)
        src_lines = source.splitlines()
        wf_lines = result.workflow_bundle.splitlines()
        assert len(wf_lines) == len(src_lines), relpath
        owned = _rewritten_lines(source, result)
        for number, (before, after) in enumerate(zip(src_lines, wf_lines, strict=True), 1):
            if number not in owned:
                assert before == after, f"{relpath}:{number}"
        assert result.step_bundle.startswith(source)
        if not result.has_directives:
            assert result.workflow_bundle == source == result.step_bundle
