"""build_tree output layout, incremental writes, and the `wdk build` / `wdk inspect bundle` CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wdk.cli._build import build
from wdk.cli._inspect import inspect
from wdk.compiler import build_tree

FLOW = "async def wf():\n    'use workflow'\n    return await s()\n\ndef s():\n    'use step'\n"
BAD = "def wf():\n    'use workflow'\n"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def test_layout_and_incremental_writes(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"app/flow.py": FLOW, "app/__init__.py": "", "old.py": FLOW})
    out = tmp_path / "out"
    result = build_tree(src, out, cache_dir=tmp_path / "c")
    assert result.ok and result.written
    assert (out / "workflow/app/flow.py").read_text() != FLOW
    assert (out / "step/app/flow.py").read_text().startswith(FLOW)
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest) == ["version", "files", "workflows", "steps"]
    assert sorted(manifest["files"]) == ["app/__init__.py", "app/flow.py", "old.py"]
    assert manifest["files"]["app/__init__.py"]["module"] == "app"

    (src / "old.py").unlink()
    stamp = (out / "workflow/app/flow.py").stat().st_mtime_ns
    build_tree(src, out, cache_dir=tmp_path / "c")
    assert not (out / "workflow/old.py").exists() and not (out / "step/old.py").exists()
    assert (out / "workflow/app/flow.py").stat().st_mtime_ns == stamp  # unchanged: not rewritten


def test_errors_write_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"flow.py": FLOW, "bad.py": BAD})
    result = build_tree(src, tmp_path / "out", cache_dir=tmp_path / "c")
    assert not result.ok and not result.written
    assert not (tmp_path / "out").exists()
    assert [d.code for d in result.errors] == ["WDK001"]


def test_output_inside_source_is_skipped(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"flow.py": FLOW})
    build_tree(src, src / "dist", cache_dir=tmp_path / "c")
    again = build_tree(src, src / "dist", cache_dir=tmp_path / "c")
    assert list(again.modules) == ["flow.py"]


def test_cli_build_ok_and_json(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"flow.py": FLOW})
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(
        build, [str(src), "--out", str(out), "--json"], env={"WDK_CACHE_DIR": str(tmp_path / "c")}
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert [w["id"] for w in manifest["workflows"]] == ["workflow//flow.py//wf"]
    assert "built 1 files, 1 workflows, 1 steps" in res.stderr
    assert (out / "manifest.json").is_file()


def test_cli_build_errors(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"bad.py": BAD})
    res = CliRunner().invoke(
        build,
        [str(src), "--out", str(tmp_path / "out")],
        env={"WDK_CACHE_DIR": str(tmp_path / "c")},
    )
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert lines[0] == (
        f'{src.as_posix()}/bad.py:1:1: error[WDK001]: "use workflow" on a sync function (wf): '
        "workflows must be `async def`"
    )
    assert lines[1] == "  help: Declare it as `async def wf(...)`."
    assert lines[-1] == "error: build failed: 1 error in 1 file"
    assert not (tmp_path / "out").exists()


def test_cli_check_writes_nothing(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"flow.py": FLOW})
    res = CliRunner().invoke(
        build,
        [str(src), "--out", str(tmp_path / "out"), "--check"],
        env={"WDK_CACHE_DIR": str(tmp_path / "c")},
    )
    assert res.exit_code == 0 and "checked, nothing written" in res.stderr
    assert not (tmp_path / "out").exists()
    bad = _tree(tmp_path / "b", {"bad.py": BAD})
    res = CliRunner().invoke(
        build, [str(bad), "--check"], env={"WDK_CACHE_DIR": str(tmp_path / "c")}
    )
    assert res.exit_code == 1


def test_cli_inspect_bundle(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"flow.py": FLOW})
    build_tree(src, tmp_path / "out", cache_dir=tmp_path / "c")
    res = CliRunner().invoke(inspect, ["bundle", str(tmp_path / "out")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "workflow//flow.py//wf" in res.output and "step//flow.py//s" in res.output
    assert "Workflows" in res.output and "Steps" in res.output and "Files" in res.output
    missing = CliRunner().invoke(inspect, ["bundle", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "run `wdk build` first" in missing.output


def test_inspect_is_an_open_group() -> None:
    import click

    assert isinstance(inspect, click.Group)
    assert "bundle" in inspect.commands
