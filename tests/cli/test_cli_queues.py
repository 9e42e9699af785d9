"""``wdk run`` with flow-control options, as a user runs it: subprocesses on a real SQLite file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WDK = str(Path(sys.executable).with_name("wdk"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("queue_flows.py", "queue_util.py"):
        shutil.copy(ROOT / "fixtures" / "queues" / name, tmp_path / name)
    return tmp_path


def wdk(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, WDK_CACHE_DIR=str(project / ".cache"), QUEUE_LOG=str(project / "log.txt")
    )
    env.pop("WDK_WORLD", None)
    return subprocess.run(
        [WDK, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_run_on_a_queue_with_its_options(project: Path) -> None:
    result = wdk(
        project, "run", "queue_flows:job", "x", "0", "--queue", "per_customer", "--key", "c-1",
        "--priority", "3", "--dedupe-key", "d-1", "--delay", "100ms",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "x"
    shown = wdk(project, "inspect", "runs", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "completed" in shown.stdout


def test_run_with_bad_flow_options_starts_nothing(project: Path) -> None:
    for args, fragment in [
        (("--queue", "nope"), "unknown queue 'nope'"),
        (("--key", "k"), "key needs a queue"),
        (("--queue", "reports", "--debounce", "1s"), "debounce needs a key"),
    ]:
        result = wdk(project, "run", "queue_flows:job", "x", "0", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert fragment in result.stderr and "nothing was started" in result.stderr
    listed = wdk(project, "inspect", "runs", "--status", "queued")
    assert listed.returncode == 0, listed.stderr
