"""Crash tests: a real worker subprocess is SIGKILLed mid-step and mid-sleep; a new worker
finishes the run, completed steps never run again, and the log holds no duplicate completion."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wdk.api import start
from wdk.worlds import open_world

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CRASH = Path(__file__).resolve().parents[2] / "fixtures" / "crash"
WDK = str(Path(sys.executable).with_name("wdk"))


def _worker(db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            WDK,
            "worker",
            "--world",
            f"sqlite:///{db}",
            "--root",
            str(CRASH),
            "--lease",
            "1.5",
            "-c",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CRASH_LOG=str(tmp_path / "log.txt"),
        CRASH_GATE=str(tmp_path / "gate"),
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp_path / "cache"),
        WDK_RETRY_BASE="0.05",
    )
    return env


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        _kill(proc)


def _assert_no_duplicate_completion(events) -> None:
    done = collections.Counter(
        e.correlation_id for e in events if e.type in ("step_completed", "step_failed")
    )
    assert done and max(done.values()) == 1


async def _wait_for_event(world, run_id: str, etype: str) -> None:
    while etype not in [e.type for e in await world.read_events(run_id)]:
        await world.wait_for_change([f"run:{run_id}"], 2.0)


async def test_sigkill_mid_step(tmp_path):
    db, env = tmp_path / "wdk.db", _env(tmp_path)
    world = open_world(f"sqlite:///{db}")
    await world.setup()
    run = await start("workflow//crashy.py//mid_step", [], world=world)
    first = _worker(db, env)
    try:
        readable = run.get_readable()
        assert await readable.__anext__() == "block started"  # the step is mid-flight
        _kill(first)
        (tmp_path / "gate").touch()
        second = _worker(db, env)
        try:
            assert await run.return_value(timeout=60) == ["before", "block", "after"]
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            _kill(first)
    runs = [line.split()[0] for line in (tmp_path / "log.txt").read_text().splitlines()]
    assert runs.count("before") == 1
    assert runs.count("after") == 1
    assert runs.count("block") == 2  # interrupted mid-flight: ran at most twice
    _assert_no_duplicate_completion(await world.read_events(run.run_id))
    await world.close()


async def test_sigkill_mid_sleep(tmp_path):
    db, env = tmp_path / "wdk.db", _env(tmp_path)
    world = open_world(f"sqlite:///{db}")
    await world.setup()
    run = await start("workflow//crashy.py//mid_sleep", [], world=world)
    first = _worker(db, env)
    try:
        await _wait_for_event(world, run.run_id, "wait_created")
        _kill(first)
        second = _worker(db, env)
        try:
            assert await run.return_value(timeout=60) == ["before", "after"]
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            _kill(first)
    runs = [line.split()[0] for line in (tmp_path / "log.txt").read_text().splitlines()]
    assert runs == ["before", "after"]
    _assert_no_duplicate_completion(await world.read_events(run.run_id))
    await world.close()
