"""``wdk run`` and ``wdk inspect`` as a user runs them: real subprocesses on a real SQLite file."""

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
    shutil.copy(ROOT / "fixtures" / "runtime" / "flows.py", tmp_path / "flows.py")
    shutil.copy(ROOT / "fixtures" / "runtime" / "helpers.py", tmp_path / "helpers.py")
    return tmp_path


def wdk(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_RETRY_BASE="0.01")
    env.pop("WDK_WORLD", None)
    return subprocess.run(
        [WDK, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def test_run_prints_the_return_value_as_json(project: Path) -> None:
    result = wdk(project, "run", "flows:sequential", "3")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [1, 2, 3]
    assert (project / ".wdk" / "wdk.db").is_file()  # the embedded default world


def test_run_takes_json_arguments(project: Path) -> None:
    result = wdk(project, "run", "flows:round_trip", '{"a": [1, 2, null]}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": [1, 2, None]}


def test_run_failure_exits_1_with_the_users_file_and_line(project: Path) -> None:
    result = wdk(project, "run", "flows:deep_error")
    assert result.returncode == 1
    assert "three calls deep" in result.stderr
    assert 'helpers.py", line 13, in deep_c' in result.stderr
    assert "Traceback" in result.stderr
    assert result.stdout == ""


def test_run_unknown_module_or_function_is_a_clear_error(project: Path) -> None:
    missing_module = wdk(project, "run", "nope:flow")
    assert missing_module.returncode == 2
    assert "module 'nope' not found" in missing_module.stderr
    missing_fn = wdk(project, "run", "flows:nope")
    assert missing_fn.returncode == 1
    assert "workflow//flows.py//nope is not registered" in missing_fn.stderr
    assert "Traceback" not in missing_fn.stderr


def test_inspect_runs_steps_and_events(project: Path) -> None:
    assert wdk(project, "run", "flows:sequential", "2").returncode == 0
    runs = json.loads(wdk(project, "inspect", "runs", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "completed" and runs[0]["output"] == [1, 2]
    run_id = runs[0]["run_id"]
    steps = json.loads(wdk(project, "inspect", "steps", run_id, "--json").stdout)
    assert [s["status"] for s in steps] == ["completed", "completed"]
    assert all(s["name"] == "step//flows.py//add" and s["attempts"] == 1 for s in steps)
    events = json.loads(wdk(project, "inspect", "events", run_id, "--json").stdout)
    assert events[0]["type"] == "run_created" and events[-1]["type"] == "run_completed"
    table = wdk(project, "inspect", "run", run_id)
    assert table.returncode == 0 and "completed" in table.stdout
    unknown = wdk(project, "inspect", "run", "wrun_nope")
    assert unknown.returncode == 2 and "no run has id 'wrun_nope'" in unknown.stderr
