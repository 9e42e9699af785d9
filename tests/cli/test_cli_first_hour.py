"""What a new user meets first (issue 18): validation before anything is written, one-prefix
errors with the user's frames, ids in full and by prefix. Real ``wdk`` processes on a real SQLite
file under tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WDK = str(Path(sys.executable).with_name("wdk"))

FLOWS = textwrap.dedent(
    '''
    """First-hour workflows."""


    async def greet(name: str, punctuation: str = "!") -> str:
        "use workflow"
        return await shout(name + punctuation)


    async def shout(text: str) -> str:
        "use step"
        return text.upper()


    def broken() -> None:
        "use step"
        raise ValueError("still broken")


    broken.max_retries = 2


    async def fails() -> None:
        "use workflow"
        await broken()
    '''
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "first.py").write_text(FLOWS)
    return tmp_path


def wdk(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_RETRY_BASE="0.01")
    full.pop("WDK_WORLD", None)
    full.pop("WDK_DEBUG", None)
    full.update(env)
    return subprocess.run(
        [WDK, *args], cwd=project, env=full, capture_output=True, text=True, timeout=120
    )


def test_wrong_arity_exits_2_naming_the_argument_and_creates_no_run(project: Path) -> None:
    missing = wdk(project, "run", "first:greet")
    assert missing.returncode == 2
    assert "missing a required argument: 'name'" in missing.stderr
    assert "nothing was started" in missing.stderr
    extra = wdk(project, "run", "first:greet", '"a"', '"b"', '"c"')
    assert extra.returncode == 2 and "too many positional arguments" in extra.stderr
    assert not (project / ".wdk" / "wdk.db").exists()  # nothing written
    ok = wdk(project, "run", "first:greet", '"ada"', '"?"')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == "ADA?"


def test_a_non_json_argument_is_taken_as_a_string_and_says_so(project: Path) -> None:
    result = wdk(project, "run", "first:greet", "ada")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "ADA!"
    assert "argument 1 ('ada') is not JSON; taken as the string \"ada\"" in result.stderr


def test_limits_and_statuses_are_checked(project: Path) -> None:
    zero = wdk(project, "inspect", "runs", "--limit", "0")
    assert zero.returncode == 2 and "--limit" in zero.stderr
    bogus = wdk(project, "inspect", "runs", "--status", "bogus")
    assert bogus.returncode == 2 and "'bogus' is not one of" in bogus.stderr
    concurrency = wdk(project, "run", "first:greet", '"a"', "--concurrency", "0")
    assert concurrency.returncode == 2 and "--concurrency" in concurrency.stderr


def test_a_plain_path_is_a_sqlite_world(project: Path) -> None:
    (project / "data").mkdir()
    result = wdk(project, "run", "first:greet", '"a"', "--world", "data/runs.db")
    assert result.returncode == 0, result.stderr
    assert (project / "data" / "runs.db").is_file()
    listed = wdk(project, "inspect", "runs", "--json", "--world", "data/runs.db")
    assert [r["status"] for r in json.loads(listed.stdout)] == ["completed"]
    default = wdk(project, "inspect", "runs", "--world", ".wdk/wdk.db")  # what --help prints
    assert default.returncode == 0, default.stderr


def test_a_world_in_a_missing_folder_is_an_error_not_a_new_file(project: Path) -> None:
    flag = wdk(project, "run", "first:greet", '"a"', "--world", "nope/runs.db")
    assert flag.returncode == 2
    assert "folder 'nope' does not exist" in flag.stderr
    env = wdk(project, "inspect", "runs", WDK_WORLD="sqlite:///typo/runs.db")
    assert env.returncode == 2 and "WDK_WORLD" in env.stderr
    assert not (project / "nope").exists() and not (project / "typo").exists()


def test_help_shows_each_options_environment_variable(project: Path) -> None:
    for command in (["run"], ["worker"], ["inspect", "runs"], ["serve"]):
        result = wdk(project, *command, "--help")
        assert "env var: WDK_WORLD" in " ".join(result.stdout.split()), command


def test_a_failed_run_reads_once_with_attempts_and_the_users_frame_only(project: Path) -> None:
    result = wdk(project, "run", "first:fails")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("run wrun_") and first.count("failed:") == 1
    assert first.endswith("failed: still broken (step broken failed after 3 attempts)")
    assert 'first.py", line' in result.stderr
    assert f"{os.sep}wdk{os.sep}runtime{os.sep}" not in result.stderr  # wdk frames hidden
    debug = wdk(project, "run", "first:fails", WDK_DEBUG="1")
    assert f"{os.sep}wdk{os.sep}runtime{os.sep}" in debug.stderr


SLEEPY = textwrap.dedent(
    '''
    from wdk import sleep


    async def napper(n: int) -> int:
        "use workflow"
        a = await double(n)
        await sleep("10ms")
        return await double(a)


    async def double(x: int) -> int:
        "use step"
        return 2 * x
    '''
)


def test_inspect_shows_whole_ids_json_values_iso_times_and_one_timeline(project: Path) -> None:
    (project / "sleepy.py").write_text(SLEEPY)
    assert wdk(project, "run", "sleepy:napper", "3").stdout.strip() == "12"
    runs = json.loads(wdk(project, "inspect", "runs", "--json").stdout)
    run_id = runs[0]["run_id"]
    assert runs[0]["output"] == 12
    assert runs[0]["created_at"].endswith("Z") and "T" in runs[0]["created_at"]
    table = wdk(project, "inspect", "runs")
    assert run_id in table.stdout  # never cut, even at 80 columns
    steps = json.loads(wdk(project, "inspect", "steps", run_id[:12], "--json").stdout)
    assert [(s["kind"], s["status"]) for s in steps] == [
        ("step", "completed"),
        ("sleep", "completed"),
        ("step", "completed"),
    ]
    assert steps[0]["args"] == [3] and steps[0]["result"] == 6 and steps[0]["attempts"] == 1
    assert steps[2]["args"] == [6] and steps[2]["result"] == 12
    assert steps[1]["until"].endswith("Z")
    events = json.loads(wdk(project, "inspect", "events", run_id[:12], "--json").stdout)
    assert events[0]["data"]["input"] == [3]  # decoded, not hex msgpack
    shown = wdk(project, "inspect", "steps", run_id[:12])
    assert shown.returncode == 0 and run_id in shown.stdout and "sleep" in shown.stdout


def test_a_run_id_prefix_works_and_an_ambiguous_one_exits_2_listing_matches(
    project: Path,
) -> None:
    for name in ('"a"', '"b"'):
        assert wdk(project, "run", "first:greet", name).returncode == 0
    ids = [r["run_id"] for r in json.loads(wdk(project, "inspect", "runs", "--json").stdout)]
    one = wdk(project, "inspect", "run", ids[0][:-3], "--json")
    assert one.returncode == 0 and json.loads(one.stdout)["run_id"] == ids[0]
    ambiguous = wdk(project, "inspect", "steps", "wrun_")
    assert ambiguous.returncode == 2
    assert "start of several run ids" in ambiguous.stderr
    assert all(i in ambiguous.stderr for i in ids)
    missing = wdk(project, "cancel", "wrun_zzz")
    assert missing.returncode == 2 and "no run has id 'wrun_zzz'" in missing.stderr
