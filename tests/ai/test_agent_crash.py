"""SIGKILL the worker between the tool step and the next model call: the run finishes after a
restart and the tool ran once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ai_paths import AI_FIXTURES
from ui_client import render

from wdk.api import start
from wdk.worlds import open_world

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WDK = str(Path(sys.executable).with_name("wdk"))


def _worker(db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [
        WDK,
        "worker",
        "--world",
        f"sqlite:///{db}",
        "--root",
        str(AI_FIXTURES),
        "--lease",
        "1.5",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


async def test_sigkill_between_tool_step_and_next_model_call(tmp_path):
    db = tmp_path / "wdk.db"
    env = dict(os.environ)
    env.update(
        AI_TOOL_LOG=str(tmp_path / "tools.log"),
        CRASH_GATE=str(tmp_path / "gate"),
        PYTHONHASHSEED="0",
        WDK_CACHE_DIR=str(tmp_path / "cache"),
        WDK_RETRY_BASE="0.05",
    )
    world = open_world(f"sqlite:///{db}")
    await world.setup()
    run = await start(
        "workflow//agents.py//crash_agent", [[{"role": "user", "content": "hi"}]], world=world
    )
    first = _worker(db, env)
    second = None
    try:
        # Two completed steps: the first model call and the tool. The next model call is
        # blocked on the gate (or not started yet): kill the worker there.
        while [e.type for e in await world.read_events(run.run_id)].count("step_completed") < 2:
            await world.wait_for_change([f"run:{run.run_id}"], 2.0)
        _kill(first)
        (tmp_path / "gate").touch()
        second = _worker(db, env)
        result = await run.return_value(timeout=60)
        chunks = [c async for c in run.get_readable()]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                _kill(proc)
    assert result == {"text": "Weather: sunny in Paris (success)", "steps": 2}
    assert (tmp_path / "tools.log").read_text() == "weather Paris\n"  # the tool ran once
    seen = render(chunks)
    assert seen["finishes"] == 1 and seen["text"] == "Weather: sunny in Paris (success)"
    await world.close()
