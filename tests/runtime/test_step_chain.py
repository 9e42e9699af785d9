"""The step-thread chain: on a world that can write from any thread (SQLite), a sync step is
recorded by the thread that ran it, which goes on with the run's next sync step.

The whole runtime suite already runs on SQLite through this path; these tests pin what is
particular to it: it is taken, it writes the same log as the event-loop path, the run's lock
is not held while a step runs, and a write that loses its race hands the outcome back.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import msgpack
import pytest
from harness import running

from wdk.api import resume_hook
from wdk.runtime import _steps, _worker
from wdk.worlds import open_world

pytestmark = pytest.mark.anyio

#: outside the project (its modules may not make objects at import time)
LIB = """
import threading

#: set by the test; ``hold`` waits for it
RELEASE = threading.Event()
#: (tag, i) of every ``mark`` step, in the order they ran
MARKS = []
"""

GATE = """"use step"

from wdk import FatalError

from {lib} import MARKS, RELEASE


def hold() -> str:
    if not RELEASE.wait(60):
        raise FatalError("the test never released this step")
    return "released"


def mark(tag: str, i: int) -> None:
    MARKS.append((tag, i))
"""

SOURCE = """
import asyncio

from wdk import RetryableError, create_hook, get_step_metadata

from {gate} import hold, mark


def inc(i: int) -> int:
    "use step"
    return i + 1


async def ainc(i: int) -> int:
    "use step"
    return i + 1


def note(value: str) -> str:
    "use step"
    return f"noted {{value}}"


async def counting(n: int) -> int:
    "use workflow"
    total = 0
    for i in range(n):
        total += await inc(i)
    total += await ainc(total)  # an async step ends the chain; the loop runs it
    for i in range(3):
        total += await inc(i)
    return total


async def hook_during_step(token: str) -> list:
    "use workflow"
    held = asyncio.create_task(hold())
    value = await create_hook(token=token)
    noted = await note(value)
    return [noted, await held]


def flaky() -> int:
    "use step"
    attempt = get_step_metadata().attempt
    if attempt == 1:
        raise RetryableError("first attempt fails", retry_after=0)
    return attempt


async def flaky_then_inc() -> int:
    "use workflow"
    return await flaky() + await inc(0)


async def marks(tag: str, n: int, held: bool) -> None:
    "use workflow"
    if held:
        await hold()
    for i in range(n):
        await mark(tag, i)


async def held_then_more() -> int:
    "use workflow"
    await hold()
    return await inc(1)
"""

EXPECTED_COUNTING = sum(i + 1 for i in range(10)) * 2 + 1 + 6


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A project root with the workflows, and a library beside it holding the gate."""
    module = f"chainflows_{uuid.uuid4().hex[:8]}"
    root, lib = tmp_path / "project", tmp_path / "lib"
    root.mkdir()
    lib.mkdir()
    (lib / f"{module}_lib.py").write_text(LIB)
    monkeypatch.syspath_prepend(str(lib))
    (root / f"{module}_gate.py").write_text(GATE.format(lib=f"{module}_lib"))
    (root / f"{module}.py").write_text(SOURCE.format(gate=f"{module}_gate"))
    return root, module


@pytest.fixture
def chains(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many step attempts each step-thread chain ran (one entry per chain)."""
    counts: list[int] = []
    real_chain, real_attempt = _worker.Worker._chain, _steps.run_step_blocking

    def chain(self: Any, *args: Any) -> Any:
        counts.append(0)
        return real_chain(self, *args)

    def attempt(*args: Any, **kwargs: Any) -> Any:
        counts[-1] += 1
        return real_attempt(*args, **kwargs)

    monkeypatch.setattr(_worker.Worker, "_chain", chain)
    monkeypatch.setattr(_steps, "run_step_blocking", attempt)
    return counts


async def _events(world: Any, run_id: str) -> list[tuple[str, str | None]]:
    """(event type, step name for step events) of a run's log."""
    names: dict[str | None, str] = {}
    out: list[tuple[str, str | None]] = []
    for e in await world.read_events(run_id):
        if e.type == "step_created":
            names[e.correlation_id] = msgpack.unpackb(e.data)["step"].rsplit("//", 1)[-1]
        out.append((e.type, names.get(e.correlation_id)))
    return out


async def test_sequential_sync_steps_run_in_one_chain_with_the_same_log(
    tmp_path: Path, project: tuple[Path, str], chains: list[int]
) -> None:
    root, module = project
    logs = []
    for url in (f"sqlite:///{tmp_path / 'chain.db'}", "memory://"):
        world: Any = open_world(url)
        async with running(world, root=root, relpath=f"{module}.py") as h:
            run = await h.start("counting", 10)
            assert await run.return_value(timeout=60) == EXPECTED_COUNTING
            await h.check_replay(run)
            logs.append(await _events(world, run.run_id))
        await world.close()
    sqlite_log, memory_log = logs
    assert sqlite_log == memory_log
    # SQLite: the first 10 steps in one thread chain (the memory world has no blocking
    # writes), the async step on the loop, the last 3 in a second chain.
    assert chains == [10, 3]


async def test_a_known_sync_step_runs_detached_and_hands_back_what_the_loop_must_do(
    tmp_path: Path, project: tuple[Path, str], chains: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a step is known to be sync, its run's inline job goes to a step thread with no
    task of the loop waiting (Worker._detached). What the chain cannot do (an async step, a
    retry) comes back to the loop, and the run ends as it would on the loop's path."""
    detached: list[str] = []
    real = _worker.Worker._detached

    def spy(self: Any, job: Any) -> None:
        detached.append(job.step_id.rsplit("//", 1)[-1])
        real(self, job)

    monkeypatch.setattr(_worker.Worker, "_detached", spy)
    root, module = project
    world: Any = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    async with running(world, root=root, relpath=f"{module}.py") as h:
        for _ in range(2):
            run = await h.start("counting", 10)
            assert await run.return_value(timeout=60) == EXPECTED_COUNTING
            await h.check_replay(run)
        # The first run meets ``inc`` on the loop's path; after its async step (run by the
        # loop) ``inc`` is known: detached. The second run is detached from its first step.
        assert detached == ["inc", "inc", "inc"]
        assert chains == [10, 3, 10, 3]
        for _ in range(2):
            run = await h.start("flaky_then_inc")
            assert await run.return_value(timeout=60) == 3
            await h.check_replay(run)
        assert detached[3:] == ["inc", "flaky", "inc"]
        events = await _events(world, run.run_id)
        assert events.count(("step_retrying", "flaky")) == 1
        assert events.count(("step_completed", "flaky")) == 1
    await world.close()


async def test_a_chain_lets_other_runs_have_its_thread_when_they_wait_for_one(
    tmp_path: Path, project: tuple[Path, str]
) -> None:
    """One step thread, two runs of sync steps: once the second run waits for the thread,
    the first run's chain queues its next step behind it, and the two take turns."""
    root, module = project
    world: Any = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    async with running(world, root=root, relpath=f"{module}.py", step_threads=1) as h:
        first = await h.start("marks", "A", 5, True)
        while ("step_started", "hold") not in await _events(world, first.run_id):
            await world.wait_for_change([f"run:{first.run_id}"], 5)
        second = await h.start("marks", "B", 5, False)
        await anyio.wait_all_tasks_blocked()  # its first step waits for the thread
        lib = sys.modules[f"{module}_lib"]
        lib.RELEASE.set()
        for run in (first, second):
            assert await run.return_value(timeout=60) is None
            await h.check_replay(run)
    await world.close()
    assert lib.MARKS == [(tag, i) for i in range(5) for tag in "BA"]


async def test_a_hook_resumes_the_run_while_a_chained_step_runs(
    tmp_path: Path, project: tuple[Path, str]
) -> None:
    root, module = project
    world: Any = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    token = f"tok-{uuid.uuid4().hex}"
    async with running(world, root=root, relpath=f"{module}.py") as h:
        run = await h.start("hook_during_step", token)
        while await world.get_hook_by_token(token) is None:
            await world.wait_for_change([f"run:{run.run_id}"], 5)
        release = sys.modules[f"{module}_lib"].RELEASE
        try:
            await resume_hook(token, "hello", world=world)
            # While ``hold`` still runs, the run takes the hook and records ``note``.
            with anyio.fail_after(30):
                while ("step_completed", "note") not in await _events(world, run.run_id):
                    await world.wait_for_change([f"run:{run.run_id}"], 5)
            assert not release.is_set()
        finally:
            release.set()
        assert await run.return_value(timeout=60) == ["noted hello", "released"]
        await h.check_replay(run)
    await world.close()


async def test_a_chained_step_that_loses_its_race_is_recorded_once(
    tmp_path: Path, project: tuple[Path, str]
) -> None:
    """The run is cancelled while a chained step runs: the thread's commit finds the log
    moved (expect_seq), gives the outcome back, and the loop records it alone."""
    root, module = project
    world: Any = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    async with running(world, root=root, relpath=f"{module}.py") as h:
        run = await h.start("held_then_more")
        while ("step_started", "hold") not in await _events(world, run.run_id):
            await world.wait_for_change([f"run:{run.run_id}"], 5)
        release = sys.modules[f"{module}_lib"].RELEASE
        try:
            await run.cancel()
        finally:
            release.set()
        with anyio.fail_after(30):
            while ("step_completed", "hold") not in await _events(world, run.run_id):
                await world.wait_for_change([f"run:{run.run_id}"], 5)
        assert (await run.info()).status == "cancelled"
        events = await _events(world, run.run_id)
    await world.close()
    assert events.count(("step_completed", "hold")) == 1
    assert ("step_created", "inc") not in events  # nothing ran after the cancellation
