"""Building web/chat for the browser tests: `npm ci` + `vite build` in a temp copy, once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web" / "chat"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing(*, node: bool = True) -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    for tool in ("node", "npm") if node else ():
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under CI=true fail instead (nothing may skip there)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def run_tool(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run ``cmd``; its stdout, or an assertion error with its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_page(tmp: Path) -> tuple[Path, dict[str, str]]:
    """Copy web/chat into ``tmp``, install the pinned packages, build; (work dir, its env)."""
    reason = missing()
    if reason is not None:
        skip_or_fail(reason)
    work = tmp / "chat"
    shutil.copytree(WEB, work, ignore=shutil.ignore_patterns("node_modules", "dist"))
    env = {
        **os.environ,
        "npm_config_cache": str(tmp / "npm-cache"),
        "npm_config_update_notifier": "false",
        "CHROMIUM": CHROMIUM,
    }
    run_tool(["npm", "ci", "--no-audit", "--no-fund"], work, env, 150)
    run_tool(["npm", "run", "build"], work, env, 60)
    assert (work / "dist" / "index.html").is_file()
    return work, env
