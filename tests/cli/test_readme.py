"""The README's quickstart, run as written: its first Python block is saved under the name its
``# name.py`` comment gives, and its first ``wdk run`` line runs it through the real ``wdk``, in
an empty temporary folder. If the README's example stops working, this fails."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
WDK = str(Path(sys.executable).with_name("wdk"))


def _first_python_file() -> tuple[str, str]:
    block = re.search(r"```python\n(.*?)```", README, re.S)
    assert block, "the README has no ```python block"
    text = block.group(1)
    name = re.match(r"# (\w+\.py)\n", text)
    assert name, "the README's first Python block must open with a `# name.py` comment"
    return name.group(1), text


def _first_run_line() -> tuple[list[str], list[str]]:
    """The first ``wdk run`` command (argv) and the output lines shown under it."""
    lines = README.splitlines()
    for i, line in enumerate(lines):
        command = line.removeprefix("$ ").strip()
        if command.startswith("wdk run "):
            argv = shlex.split(command, comments=True)
            shown: list[str] = []
            for following in lines[i + 1 :]:
                if following.startswith(("$", "```")):
                    break
                shown.append(following.strip())
            return argv, shown
    raise AssertionError("the README has no `wdk run` line")


def _normal(line: str) -> str:
    line = re.sub(r"wrun_[0-9A-Z]{26}", "wrun_<id>", line)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<time>", line)


def test_the_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    name, text = _first_python_file()
    (tmp_path / name).write_text(text)
    argv, shown = _first_run_line()
    assert shown, "the README shows what `wdk run` prints"
    env = dict(os.environ, WDK_CACHE_DIR=str(tmp_path / ".cache"))
    env.pop("WDK_WORLD", None)
    result = subprocess.run(
        [WDK, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # What the README says it prints is what it prints: the result on stdout, the progress
    # lines on stderr (run ids and times aside; concurrent steps may finish in either order).
    assert json.loads(result.stdout) == json.loads(shown[-1])
    assert sorted(map(_normal, result.stderr.splitlines())) == sorted(map(_normal, shown[:-1]))
    assert (tmp_path / ".wdk" / "wdk.db").is_file()


def test_the_readme_links_every_doc_page() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in README, f"README does not link docs/{page.name}"


def _commands() -> list[tuple[str, click.Command]]:
    from wdk.cli import main

    ctx = click.Context(main)
    found: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: str) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}")
        else:
            found.append((path, cmd))

    walk(main, "wdk")
    return found


def test_docs_cli_lists_every_command_option_and_environment_variable() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "wdk").rglob("*.py"))
    for path, cmd in _commands():
        assert f"`{path}" in doc, f"docs/cli.md does not describe `{path}`"
        for param in cmd.params:
            if isinstance(param, click.Option):
                assert any(f"`{o}" in doc for o in param.opts), f"{path} {param.opts[0]}"
                if param.envvar:
                    assert param.show_envvar, f"{path} {param.opts[0]} hides {param.envvar}"
                    assert f"`{param.envvar}`" in doc, f"{param.envvar} is not in docs/cli.md"
    read = r"(?:environ(?:\.get)?\(|environ\[|getenv\(|envvar=)\s*\"(WDK_[A-Z_]+)\""
    for var in sorted(set(re.findall(read, source))):
        assert f"`{var}`" in doc, f"{var} is read by wdk but not in docs/cli.md"
