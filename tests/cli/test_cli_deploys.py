"""``wdk retry|fork|export|replay`` and ``--deployment`` as a user runs them: real ``wdk``
processes on a real SQLite file under tmp_path."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from wdk.worlds import open_world

WDK = str(Path(sys.executable).with_name("wdk"))

FLOWS = textwrap.dedent(
    '''
    """Deploy-test workflows: two recorded steps, then one that fails until ./fixed exists."""

    from wdk import FatalError, create_hook


    async def record(name: str) -> str:
        "use step"
        from pathlib import Path

        with Path("marks.txt").open("a") as f:
            f.write(name + "\\n")
        return name


    async def note() -> None:
        "use step"


    def check() -> str:
        "use step"
        from pathlib import Path

        if not Path("fixed").exists():
            raise FatalError("not fixed yet")
        return "fixed"


    async def pipeline() -> list:
        "use workflow"
        a = await record("a")
        b = await record("b")
        c = await check()
        return [a, b, c]


    async def waits(token: str) -> list:
        "use workflow"
        a = await record("a")
        got = await create_hook(token=token)
        b = await record("b")
        return [a, got, b]


    async def two(n: int) -> list:
        "use workflow"
        first = await record(f"first-{n}")
        second = await record(f"second-{n}")
        return [first, second]
    '''
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "deploy_flows.py").write_text(FLOWS)
    return tmp_path


def wdk(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_RETRY_BASE="0.01")
    full_env.pop("WDK_WORLD", None)
    full_env.pop("WDK_DEPLOYMENT_ID", None)
    full_env.update(env)
    return subprocess.run(
        [WDK, *args], cwd=project, env=full_env, capture_output=True, text=True, timeout=120
    )


def run_ok(project: Path, target: str, *args: str) -> str:
    """Run a workflow to the end with `wdk run`; the id of the run it made."""
    before = set(snapshot(project)[0])
    result = wdk(project, "run", target, *args)
    assert result.returncode == 0, result.stderr
    (new,) = set(snapshot(project)[0]) - before
    return new


def snapshot(project: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Every run's status and how many events each has, read straight from the world."""

    async def read() -> tuple[dict[str, str], dict[str, int]]:
        world = open_world(f"sqlite:///{project / '.wdk' / 'wdk.db'}")
        await world.setup()
        try:
            page = await world.list_runs(limit=1000)
            runs = {r.run_id: r.status for r in page.runs}
            events = {rid: len(await world.read_events(rid)) for rid in runs}
        finally:
            await world.close()
        return runs, events

    if not (project / ".wdk" / "wdk.db").exists():
        return {}, {}
    return anyio.run(read)


def unique_prefix(run_id: str, others: list[str]) -> str:
    """The shortest prefix of ``run_id`` that no other id starts with."""
    for n in range(len("wrun_") + 1, len(run_id)):
        if not any(o.startswith(run_id[:n]) for o in others if o != run_id):
            return run_id[:n]
    return run_id


@pytest.fixture
def two_runs(project: Path) -> list[str]:
    """Two completed runs of `two` (2 steps each)."""
    return [run_ok(project, "deploy_flows:two", str(n)) for n in (1, 2)]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- export --------------------------------------------------------------------------------


def test_export_prints_the_history_as_stable_json(project: Path, two_runs: list[str]) -> None:
    run_id = two_runs[0]
    result = wdk(project, "export", run_id)
    assert result.returncode == 0, result.stderr
    history = json.loads(result.stdout)
    assert history["format"] == "wdk-history/1"
    assert history["run_id"] == run_id
    assert history["workflow_id"] == "workflow//deploy_flows.py//two"
    assert history["status"] == "completed"
    assert "deployment_id" in history and "exported_at" in history
    events = history["events"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["type"] == "run_created" and events[-1]["type"] == "run_completed"
    assert set(events[0]) == {"seq", "type", "correlation_id", "created_at", "data"}
    # Stable text: 2-space indent, sorted keys, one trailing newline (diffs cleanly in git).
    assert result.stdout == json.dumps(history, indent=2, sort_keys=True) + "\n"

    out = project / "histories" / "h.json"
    out.parent.mkdir()
    to_file = wdk(project, "export", run_id, "-o", str(out))
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""
    assert json.loads(out.read_text())["events"] == events


def test_a_unique_run_id_prefix_names_the_run(project: Path, two_runs: list[str]) -> None:
    run_id = two_runs[1]
    prefix = unique_prefix(run_id, two_runs)
    assert prefix != run_id
    result = wdk(project, "export", prefix)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_id"] == run_id


# -- bad input: one line, exit 2, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("retry", "wrun_does_not_exist"), ("wrun_does_not_exist",)),
        (("fork", "wrun_does_not_exist"), ("wrun_does_not_exist",)),
        (("export", "wrun_does_not_exist"), ("wrun_does_not_exist",)),
        (("export", "wrun_does_not_exist", "-o", "out.json"), ("wrun_does_not_exist",)),
        (("retry", "wrun_"), ("wrun_",)),  # a prefix of both runs
        (("fork", "wrun_"), ("wrun_",)),
        (("export", "wrun_", "-o", "out.json"), ("wrun_",)),
        (("retry", "{first}"), ("{first}",)),  # completed, not blocked
        (("fork", "{first}", "--from-step", "3"), ("{first}",)),  # it completed 2 steps
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    project: Path, two_runs: list[str], args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    before = snapshot(project)
    fill = {"first": two_runs[0]}
    result = wdk(project, *(a.format(**fill) for a in args))
    assert_one_line_error(result, *(n.format(**fill) for n in needles))
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before
    assert not (project / "out.json").exists()


def test_a_bad_deployment_id_or_from_step_is_a_usage_error(project: Path) -> None:
    bad = wdk(project, "run", "deploy_flows:two", "1", "--deployment", "has space")
    assert bad.returncode == 2 and "--deployment" in bad.stderr
    adopt = wdk(project, "worker", "--adopt")
    assert adopt.returncode == 2 and "--adopt needs --deployment" in adopt.stderr
    negative = wdk(project, "fork", "wrun_x", "--from-step", "-1")
    assert negative.returncode == 2 and "--from-step" in negative.stderr
    assert snapshot(project) == ({}, {})


def test_replay_bad_input_exits_2(project: Path, two_runs: list[str]) -> None:
    before = snapshot(project)
    no_files = wdk(project, "replay", "--history")
    assert no_files.returncode == 2 and "FILE" in no_files.stderr
    missing = wdk(project, "replay", "--history", "nope.json")
    assert missing.returncode == 2 and "nope.json" in missing.stderr
    (project / "bad.json").write_text('{"format": "something-else"}')
    wrong = wdk(project, "replay", "--history", "bad.json")
    assert_one_line_error(wrong, "bad.json")
    mixed = wdk(project, "replay", "--history", "bad.json", "--run", "wrun_")
    assert mixed.returncode == 2 and "--run" in mixed.stderr
    bogus = wdk(project, "replay", "--status", "bogus")
    assert bogus.returncode == 2
    ambiguous = wdk(project, "replay", "--run", "wrun_")
    assert_one_line_error(ambiguous, "wrun_")
    assert snapshot(project) == before


# -- inspect -------------------------------------------------------------------------------


def test_inspect_runs_status_choices_and_new_fields(project: Path, two_runs: list[str]) -> None:
    listed = wdk(project, "inspect", "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert {r["run_id"] for r in runs} == set(two_runs)
    assert all("deployment_id" in r and r["forked_from"] is None for r in runs)
    blocked = wdk(project, "inspect", "runs", "--status", "blocked", "--json")
    assert blocked.returncode == 0 and json.loads(blocked.stdout) == []
    bogus = wdk(project, "inspect", "runs", "--status", "bogus")
    assert bogus.returncode == 2 and "blocked" in bogus.stderr


# -- replay --------------------------------------------------------------------------------


def test_replay_of_the_world_runs_nothing_and_writes_nothing(
    project: Path, two_runs: list[str]
) -> None:
    before = snapshot(project)
    marks = (project / "marks.txt").read_text()
    nothing = wdk(project, "replay")  # default: running and blocked runs; there are none
    assert nothing.returncode == 0, nothing.stderr
    assert "no runs to replay" in nothing.stdout
    done = wdk(project, "replay", "--status", "completed")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 runs replay on the current code" in done.stdout
    as_json = wdk(project, "replay", "--run", two_runs[0], "--json")
    assert as_json.returncode == 0, as_json.stderr
    (only,) = json.loads(as_json.stdout)
    assert only["run_id"] == two_runs[0] and only["ok"] is True
    assert snapshot(project) == before
    assert (project / "marks.txt").read_text() == marks  # no step ran


def test_replay_history_files_gate_a_code_change(project: Path, two_runs: list[str]) -> None:
    paths = []
    for run_id in two_runs:
        path = project / "histories" / f"{run_id}.json"
        path.parent.mkdir(exist_ok=True)
        assert wdk(project, "export", run_id, "-o", str(path)).returncode == 0
        paths.append(str(path))
    ok = wdk(project, "replay", "--history", *paths)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "2 runs replay on the current code" in ok.stdout

    # Insert another step before the others: the recorded histories no longer replay.
    source = project / "deploy_flows.py"
    changed = source.read_text().replace(
        '    first = await record(f"first-{n}")',
        '    await note()\n    first = await record(f"first-{n}")',
    )
    source.write_text(changed)
    line = next(i for i, text in enumerate(changed.splitlines(), 1) if "await note()" in text)
    bad = wdk(project, "replay", "--history", *paths)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for run_id in two_runs:
        assert run_id in bad.stdout
    assert f"deploy_flows.py:{line}" in bad.stdout
    assert "event #" in bad.stdout
    assert "patched" in bad.stdout  # the suggestion
    assert "2 of 2 runs do not replay" in bad.stdout
    as_json = json.loads(wdk(project, "replay", "--history", *paths, "--json").stdout)
    assert [r["ok"] for r in as_json] == [False, False]
    assert {r["history"] for r in as_json} == set(paths)


# -- fork and deployments (need a worker) --------------------------------------------------


def env_of(project: Path) -> dict[str, str]:
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_RETRY_BASE="0.01")
    env.pop("WDK_WORLD", None)
    env.pop("WDK_DEPLOYMENT_ID", None)
    return env


@contextlib.contextmanager
def worker_running(project: Path, *args: str) -> Iterator[None]:
    """A `wdk worker` on the project's world for the duration of the block (then SIGTERM)."""
    proc = subprocess.Popen(
        [WDK, "worker", *args], cwd=project, env=env_of(project), stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_status(project: Path, run_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = wdk(project, "inspect", "run", run_id, "--json")
        if shown.returncode == 0:
            info: dict[str, Any] = json.loads(shown.stdout)
            if info["status"] in statuses:
                return info
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {statuses}")


def test_fork_after_a_fix_reuses_the_recorded_steps(project: Path) -> None:
    failed = wdk(project, "run", "deploy_flows:pipeline")
    assert failed.returncode == 1 and "not fixed yet" in failed.stderr
    (old_id,) = snapshot(project)[0]
    assert (project / "marks.txt").read_text() == "a\nb\n"

    (project / "fixed").write_text("")
    forked = wdk(project, "fork", old_id)
    assert forked.returncode == 0, forked.stderr
    new_id = forked.stdout.strip()
    assert forked.stdout == new_id + "\n" and new_id != old_id  # the id alone on stdout
    info = json.loads(wdk(project, "inspect", "run", new_id, "--json").stdout)
    assert info["forked_from"] == old_id

    with worker_running(project):
        done = wait_status(project, new_id, {"completed", "failed", "cancelled", "blocked"})
    assert done["status"] == "completed", done
    assert done["output"] == ["a", "b", "fixed"]
    assert (project / "marks.txt").read_text() == "a\nb\n"  # a and b ran once


def test_deployment_is_recorded_on_runs_started_with_it(project: Path) -> None:
    run_id = run_ok(project, "deploy_flows:two", "1")
    pinned = wdk(project, "run", "deploy_flows:two", "2", "--deployment", "v1")
    assert pinned.returncode == 0, pinned.stderr
    from_env = wdk(project, "run", "deploy_flows:two", "3", WDK_DEPLOYMENT_ID="v2")
    assert from_env.returncode == 0, from_env.stderr
    runs = json.loads(wdk(project, "inspect", "runs", "--json").stdout)
    by_dep = sorted(r["deployment_id"] or "" for r in runs if r["run_id"] != run_id)
    assert by_dep == ["v1", "v2"]
    only_v1 = json.loads(wdk(project, "inspect", "runs", "--deployment", "v1", "--json").stdout)
    assert [r["deployment_id"] for r in only_v1] == ["v1"]


def test_a_blocked_run_is_shown_gated_and_retried(project: Path) -> None:
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wdk.api.sync import start; "
            "print(start('workflow//deploy_flows.py//waits', ['tok-1']).run_id)",
        ],
        cwd=project,
        env=env_of(project),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    with worker_running(project):  # records step a, then waits on the hook
        deadline = time.monotonic() + 60
        while wdk(project, "inspect", "hooks", "--json").stdout.count("tok-1") == 0:
            assert time.monotonic() < deadline, "the run never created its hook"
            time.sleep(0.2)

    # Deploy a change that inserts a step before a, unpatched; then the hook is resumed.
    source = project / "deploy_flows.py"
    original = source.read_text()
    changed = original.replace(
        '    a = await record("a")\n    got = await',
        '    await note()\n    a = await record("a")\n    got = await',
    )
    source.write_text(changed)
    line = next(i for i, text in enumerate(changed.splitlines(), 1) if "await note()" in text)
    assert wdk(project, "hooks", "resume", "tok-1", "1").returncode == 0
    with worker_running(project):
        info = wait_status(project, run_id, {"blocked", "completed", "failed"})
    assert info["status"] == "blocked", info
    assert info["error"]["code"] == "REPLAY_DIVERGENCE"

    shown = wdk(project, "inspect", "run", run_id, COLUMNS="400")  # rich: no wrapping
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.split())
    assert "REPLAY_DIVERGENCE" in flat and f"deploy_flows.py:{line}" in flat
    assert "wdk retry" in flat
    listed = json.loads(wdk(project, "inspect", "runs", "--status", "blocked", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]

    gate = wdk(project, "replay")  # default: running and blocked runs
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert run_id in gate.stdout and f"deploy_flows.py:{line}" in gate.stdout

    # Roll back: the gate passes, and a retry lets a worker finish the run.
    source.write_text(original)
    ok = wdk(project, "replay", "--run", run_id)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 run replays on the current code" in ok.stdout
    again = wdk(project, "retry", run_id)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"run {run_id} is running again\n"
    assert_one_line_error(wdk(project, "retry", run_id), run_id)  # not blocked any more
    with worker_running(project):
        done = wait_status(project, run_id, {"completed", "failed", "blocked"})
    assert done["status"] == "completed" and done["output"] == ["a", 1, "b"], done
    assert (project / "marks.txt").read_text() == "a\nb\n"  # no step ran twice
