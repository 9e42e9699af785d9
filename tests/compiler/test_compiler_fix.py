"""``wdk build --fix`` / ``--check --diff``: diagnostics' fixes applied as a libcst codemod."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from wdk.cli._build import build
from wdk.compiler import compile_source
from wdk.compiler._fix import fix_source, unified_diff

NEAR_MISSES = '''"""A module with every fixable near miss."""


async def flow():
    "Use  workflow"  # the comment stays
    return await a() + await b() + await c() + await d()


async def a():
    f"use step"
    return 1


async def b():
    ("use step")
    return 2


async def c():
    "use " "step"
    return 3


async def d():
    'use  Step'
    x = 1
    "use step"
    return x
'''

FIXED = '''"""A module with every fixable near miss."""


async def flow():
    "use workflow"  # the comment stays
    return await a() + await b() + await c() + await d()


async def a():
    "use step"
    return 1


async def b():
    "use step"
    return 2


async def c():
    "use step"
    return 3


async def d():
    'use step'
    x = 1
    "use step"
    return x
'''


def test_fix_source_rewrites_only_the_near_misses() -> None:
    result = fix_source(NEAR_MISSES, relpath="m.py")
    assert result.source == FIXED
    assert [d.code for d in result.fixed] == ["WDK101", "WDK102", "WDK102", "WDK102", "WDK101"]
    after = compile_source(result.source, relpath="m.py", module="m")
    # Only the later "use step" in d() (WDK103) is left: moving it is the user's decision.
    assert [d.code for d in after.diagnostics] == ["WDK103"]
    assert [w.qualname for w in after.workflows] == ["flow"]
    assert [s.qualname for s in after.steps] == ["a", "b", "c", "d"]


def test_fix_source_without_fixes_is_the_identity() -> None:
    source = "def f():\n    'use step'\n    return 1\n"
    result = fix_source(source)
    assert result.source == source and not result.changed


def test_fix_keeps_crlf_line_endings() -> None:
    source = "def f():\r\n    'Use step'\r\n    return 1\r\n"
    assert fix_source(source).source == "def f():\r\n    'use step'\r\n    return 1\r\n"


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text(NEAR_MISSES)
    (src / "plain.py").write_text("X = 1\n")
    return src


def test_cli_check_diff_prints_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    result = CliRunner().invoke(
        build, [str(src), "--out", str(tmp_path / "out"), "--check", "--diff"]
    )
    assert result.exit_code == 0, result.output
    expected = unified_diff(NEAR_MISSES, FIXED, (src / "m.py").as_posix())
    assert result.stdout == expected
    assert "would fix 5 problems" in result.stderr
    assert (src / "m.py").read_text() == NEAR_MISSES
    assert not (tmp_path / "out").exists()


def test_cli_fix_writes_the_files_and_builds(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    result = CliRunner().invoke(build, [str(src), "--out", str(tmp_path / "out"), "--fix"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"--- a/{(src / 'm.py').as_posix()}\n")
    assert "fixed 5 problems" in result.stderr
    assert (src / "m.py").read_text() == FIXED
    assert (tmp_path / "out" / "manifest.json").exists()
    again = CliRunner().invoke(build, [str(src), "--out", str(tmp_path / "out"), "--fix"])
    assert again.stdout == "" and "fixed 0 problems" in again.stderr
