"""What a new user meets first (issue 18): validation before anything is written, one-prefix
errors with the user's frames, ids in full and by prefix. Real ``wdk`` processes on a real SQLite
file under tmp_path."""

from __future__ import annotations

import json
import os
import signal
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
    ends = [line for line in result.stderr.splitlines() if line.startswith("run wrun_")]
    assert ends[0].endswith(" started: workflow//first.py//fails")
    assert len(ends) == 2 and ends[1].count("failed:") == 1  # the prefix once
    assert ends[1].endswith("failed: still broken (step broken failed after 3 attempts)")
    assert 'first.py", line' in result.stderr
    assert f"{os.sep}wdk{os.sep}runtime{os.sep}" not in result.stderr  # wdk frames hidden
    debug = wdk(project, "run", "first:fails", WDK_DEBUG="1")
    assert f"{os.sep}wdk{os.sep}runtime{os.sep}" in debug.stderr


SLEEPY = textwrap.dedent(
    """
    from wdk import sleep


    async def napper(n: int) -> int:
        "use workflow"
        a = await double(n)
        await sleep("10ms")
        return await double(a)


    async def double(x: int) -> int:
        "use step"
        return 2 * x
    """
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


WAITS = textwrap.dedent(
    """
    from wdk import create_hook, sleep


    async def long_nap() -> str:
        "use workflow"
        await sleep("1h")
        return "rested"


    async def hooked(token: str) -> str:
        "use workflow"
        return await create_hook(token=token)
    """
)


def test_run_shows_progress_on_stderr_and_quiet_keeps_only_the_result(project: Path) -> None:
    (project / "sleepy.py").write_text(SLEEPY)
    shown = wdk(project, "run", "sleepy:napper", "3")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stderr.splitlines()
    assert lines[0].startswith("run wrun_") and "started: workflow//sleepy.py//napper" in lines[0]
    run_id = lines[0].split()[1]
    assert len(run_id) == 31  # the whole id
    assert lines[1:] == [
        "step double(3) started",
        "step double(3) completed",
        lines[3],
        "sleep over",
        "step double(6) started",
        "step double(6) completed",
    ]
    assert lines[3].startswith("sleeping until 20") and lines[3].endswith("Z")
    assert shown.stdout.strip() == "12"
    quiet = wdk(project, "run", "--quiet", "sleepy:napper", "3")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.strip() == "12"


def test_run_shows_retries_with_attempt_and_error(project: Path) -> None:
    result = wdk(project, "run", "first:fails")
    assert "step broken() failed (attempt 1): still broken; retrying at " in result.stderr
    assert "step broken() started (attempt 3)" in result.stderr
    assert "step broken() failed after 3 attempts: still broken" in result.stderr


def _interrupt_when(project: Path, marker: str, *args: str) -> tuple[str, int, str]:
    """Start ``wdk run ARGS``, send Ctrl-C once a stderr line starts with ``marker``."""
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"))
    env.pop("WDK_WORLD", None)
    proc = subprocess.Popen(
        [WDK, "run", *args], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(marker):
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    return "".join(seen), proc.returncode, rest


def test_ctrl_c_names_the_run_and_how_to_resume_or_cancel_it(project: Path) -> None:
    (project / "waits.py").write_text(WAITS)
    before, code, after = _interrupt_when(project, "sleeping until", "waits:long_nap")
    run_id = before.split()[1]
    assert code == 130
    assert f"interrupted: run {run_id} is kept" in after
    assert "`wdk worker` resumes it" in after and f"`wdk cancel {run_id}` stops it" in after
    assert "Aborted!" not in after
    cancelled = wdk(project, "cancel", run_id[:14])
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"cancelled {run_id}"
    shown = json.loads(wdk(project, "inspect", "run", run_id, "--json").stdout)
    assert shown["status"] == "cancelled"


def test_run_shows_the_token_a_hook_waits_for(project: Path) -> None:
    (project / "waits.py").write_text(WAITS)
    before, code, _ = _interrupt_when(project, "waiting for hook", "waits:hooked", '"tok-1"')
    assert code == 130 and "waiting for hook tok-1" in before


def test_detach_prints_the_id_and_a_worker_runs_it(project: Path) -> None:
    (project / "sleepy.py").write_text(SLEEPY)
    detached = wdk(project, "run", "--detach", "sleepy:napper", "4")
    assert detached.returncode == 0, detached.stderr
    run_id = detached.stdout.strip()
    assert run_id.startswith("wrun_") and len(run_id) == 31
    status = json.loads(wdk(project, "inspect", "run", run_id, "--json").stdout)["status"]
    assert status in ("pending", "running")
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"))
    env.pop("WDK_WORLD", None)
    worker = subprocess.Popen(
        [WDK, "worker"], cwd=project, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _ended(project / ".wdk" / "wdk.db", run_id) == "completed"
    finally:
        worker.terminate()
        _, log = worker.communicate(timeout=60)
    assert f"run {run_id} completed" in log


def _ended(db: Path, run_id: str) -> str:
    """The run's final status, waiting on the world's change notifications (at most 60 s)."""
    import anyio

    from wdk.worlds import open_world

    async def wait() -> str:
        world = open_world(f"sqlite:///{db}")
        try:
            with anyio.fail_after(60):
                while True:
                    info = await world.get_run(run_id)
                    if info is not None and info.status in ("completed", "failed", "cancelled"):
                        return str(info.status)
                    await world.wait_for_change([f"done:{run_id}"], 1.0)
        finally:
            await world.close()

    return anyio.run(wait)


def test_build_check_reports_imports_the_sandbox_would_refuse(project: Path) -> None:
    ok = wdk(project, "build", "--check")
    assert ok.returncode == 0, ok.stderr
    (project / "helper.py").write_text("VALUE = 1\n")
    (project / "bad.py").write_text(
        textwrap.dedent(
            """
            import json
            import os

            import helper


            async def flow() -> str:
                "use workflow"
                import socket

                return os.getcwd() + json.dumps(helper.VALUE)


            async def step() -> None:
                "use step"
                import subprocess  # a step may import anything
            """
        )
    )
    bad = wdk(project, "build", "--check")
    assert bad.returncode == 1
    lines = [line for line in bad.stderr.splitlines() if "error[sandbox]" in line]
    assert len(lines) == 2
    assert lines[0].startswith("bad.py:3:1: error[sandbox]: import os is not allowed")
    assert lines[1].startswith("bad.py:10:5: error[sandbox]: import socket is not allowed")
    assert "error: build failed: 2 errors in 1 file" in bad.stderr
    allow = '[tool.wdk]\nsandbox-allowed-modules = ["os", "socket"]\n'
    (project / "pyproject.toml").write_text(allow)
    allowed = wdk(project, "build", "--check")
    assert allowed.returncode == 0, allowed.stderr


def test_inspect_hooks_and_streams_take_a_prefix(project: Path) -> None:
    (project / "waits.py").write_text(WAITS)
    before, code, _ = _interrupt_when(project, "waiting for hook", "waits:hooked", '"tok-2"')
    run_id = before.split()[1]
    hooks = wdk(project, "inspect", "hooks", "--run", run_id[:14], "--json")
    assert hooks.returncode == 0, hooks.stderr
    assert [h["token"] for h in json.loads(hooks.stdout)] == ["tok-2"]
    streams = wdk(project, "inspect", "streams", run_id[:14], "--json")
    assert streams.returncode == 0 and json.loads(streams.stdout) == []
    missing = wdk(project, "inspect", "streams", "wrun_zzz")
    assert missing.returncode == 2 and "no run has id 'wrun_zzz'" in missing.stderr
