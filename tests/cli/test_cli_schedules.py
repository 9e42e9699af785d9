"""``wdk schedules`` and ``wdk worker --import`` as a user runs them: real ``wdk`` processes on
a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from wdk.runtime._schedule_spec import Schedule
from wdk.worlds import open_world

WDK = str(Path(sys.executable).with_name("wdk"))
WF = "workflow//jobs.py//report"


def wdk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WDK_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("WDK_WORLD", None)
    return subprocess.run(
        [WDK, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def seed(db: Path) -> None:
    """One schedule in the world, as a worker that imported its module leaves it."""
    sched = Schedule("nightly", WF, b"\x91\xa5daily", cron="0 3 * * *", timezone="Europe/Berlin")

    async def main() -> None:
        world = open_world(f"sqlite:///{db}")
        await world.setup()
        await world.put_schedule(
            "nightly", sched.spec(), last_fire=1_800_000_000.0, next_fire=1_800_003_600.0
        )
        await world.close()

    anyio.run(main)


def test_list_pause_resume_and_trigger(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    empty = wdk(tmp_path, "schedules", "list", "--world", str(db))
    assert empty.returncode == 0 and "no schedules" in empty.stdout and "--import" in empty.stdout
    seed(db)
    listed = wdk(tmp_path, "schedules", "list", "--world", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    [view] = json.loads(listed.stdout)
    assert view["id"] == "nightly" and view["workflow_id"] == WF
    assert view["when"] == "cron 0 3 * * * (Europe/Berlin)" and view["args"] == ["daily"]
    assert view["next_fire"] == "2027-01-15T09:00:00.000Z" and view["paused"] is False
    table = wdk(tmp_path, "schedules", "list", "--world", str(db))
    assert "nightly  cron 0 3 * * * (Europe/Berlin)  next 2027-01-15T09:00:00.000Z" in table.stdout

    paused = wdk(tmp_path, "schedules", "pause", "nightly", "--world", str(db), "--json")
    assert paused.returncode == 0 and json.loads(paused.stdout)["paused"] is True
    shown = wdk(tmp_path, "schedules", "list", "--world", str(db))
    assert "nightly  cron 0 3 * * * (Europe/Berlin)  paused" in shown.stdout
    resumed = wdk(tmp_path, "schedules", "resume", "nightly", "--world", str(db), "--json")
    view = json.loads(resumed.stdout)
    assert view["paused"] is False and view["next_fire"] is not None

    run = wdk(tmp_path, "schedules", "trigger", "nightly", "--world", str(db))
    assert run.returncode == 0, run.stderr
    run_id = run.stdout.strip()
    assert run_id.startswith("sched-nightly-manual-")
    inspected = wdk(tmp_path, "inspect", "run", run_id, "--world", str(db), "--json")
    assert json.loads(inspected.stdout)["workflow_id"] == WF
    last = json.loads(wdk(tmp_path, "schedules", "list", "--world", str(db), "--json").stdout)
    assert last[0]["last_run_id"] == run_id


@pytest.mark.parametrize("command", ["pause", "resume", "trigger"])
def test_an_unknown_id_exits_2_saying_how_to_find_the_ids(tmp_path: Path, command: str) -> None:
    seed(tmp_path / "w.db")
    out = wdk(tmp_path, "schedules", command, "nope", "--world", str(tmp_path / "w.db"))
    assert out.returncode == 2
    assert out.stderr.startswith("error: no schedule has id 'nope'")
    assert "wdk schedules list" in out.stderr


def test_a_worker_refuses_a_module_with_a_bad_schedule_before_writing_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / "jobs.py").write_text(
        textwrap.dedent(
            """
            from wdk import schedule


            async def report() -> None:
                "use workflow"


            schedule("nightly", cron="0 0 3 * * * *", workflow=report)
            """
        )
    )
    db = tmp_path / "w.db"
    out = wdk(tmp_path, "worker", "--world", str(db), "--import", "jobs")
    assert out.returncode == 1, out.stderr
    assert "schedule 'nightly' at jobs.py:9: cron '0 0 3 * * * *' has 7 fields" in out.stderr
    assert not db.exists()  # nothing written
    missing = wdk(tmp_path, "worker", "--world", str(db), "--import", "nosuchmodule")
    assert missing.returncode == 2 and "no module 'nosuchmodule'" in missing.stderr
    # A workflow named by an ID that is not in the project: refused at start, not a blocked
    # run at the first tick.
    (tmp_path / "jobs.py").write_text(
        'from wdk import schedule\n\nschedule("n", every="1h", workflow="workflow//gone.py//f")\n'
    )
    gone = wdk(tmp_path, "worker", "--world", str(db), "--import", "jobs")
    assert gone.returncode == 1
    assert "schedule 'n' at jobs.py:3: workflow workflow//gone.py//f is not registered" in (
        gone.stderr
    )
    assert not db.exists()
