"""Runs survive deploys, through real ``wdk`` processes on SQLite and PostgreSQL.

A "deploy" rewrites the project's module between two ``wdk worker`` processes; the first is
killed with SIGKILL while its run sleeps. Steps append to a side-effect file, so "no step ran
twice" is checked on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wdk import serde
from wdk.api import get_run, start
from wdk.testing import assert_replays

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WDK = str(Path(sys.executable).with_name("wdk"))

STEPS = """

def first() -> int:
    "use step"
    _mark("first")
    return 1


def extra() -> int:
    "use step"
    _mark("extra")
    return 10


def second() -> int:
    "use step"
    _mark("second")
    return 2


def _mark(name):
    import os

    with open(os.environ["EFFECTS"], "a") as f:
        f.write(name + "\\n")
"""

V1 = (
    """import wdk


async def flow() -> list:
    "use workflow"
    a = await first()
    await wdk.sleep("1s")
    return [a, await second()]
"""
    + STEPS
)

INSERTED = (
    """import wdk


async def flow() -> list:
    "use workflow"
    a = await first()
    b = await extra()
    await wdk.sleep("1s")
    return [a, b, await second()]
"""
    + STEPS
)

PATCHED = (
    """import wdk


async def flow() -> list:
    "use workflow"
    out = [await first()]
    if wdk.patched("add-extra"):
        out.append(await extra())
    await wdk.sleep("1s")
    return [*out, await second()]
"""
    + STEPS
)


@pytest.fixture(params=["sqlite", "postgres"])
async def world_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wdk.db'}"
        return
    from pg import PG_URL, fresh_schema, require_postgres

    require_postgres()
    schema = fresh_schema()
    yield f"{PG_URL}?schema={schema}"
    from wdk.worlds.postgres import PostgresWorld

    await PostgresWorld(PG_URL, schema=schema).drop_schema()


class Project:
    """A project directory, a world and the wdk processes working on them."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.root = tmp_path / "app"
        self.root.mkdir()
        self.module = f"orders_{uuid.uuid4().hex[:6]}"
        self.path = self.root / f"{self.module}.py"
        self.url = url
        self.effects_file = tmp_path / "effects.txt"
        self.env = dict(os.environ)
        self.env.update(
            EFFECTS=str(self.effects_file),
            WDK_CACHE_DIR=str(tmp_path / "cache"),
            WDK_RETRY_BASE="0.05",
            WDK_WORLD=url,
        )
        self.env.pop("WDK_DEPLOYMENT_ID", None)
        self.world: Any = None

    @property
    def workflow(self) -> str:
        return f"workflow//{self.module}.py//flow"

    def deploy(self, source: str) -> None:
        self.path.write_text(source)

    def effects(self) -> list[str]:
        return self.effects_file.read_text().split() if self.effects_file.exists() else []

    @contextmanager
    def worker(self, *extra: str, kill: bool = False) -> Iterator[subprocess.Popen[bytes]]:
        proc = subprocess.Popen(
            [WDK, "worker", "--root", str(self.root), "--lease", "1.5", *extra],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def wdk(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [WDK, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    async def open(self) -> Any:
        from wdk.worlds import open_world

        self.world = open_world(self.url)
        await self.world.setup()
        return self.world

    async def start(self, **kw: Any) -> Any:
        old = os.environ.get("WDK_DEPLOYMENT_ID")
        os.environ.pop("WDK_DEPLOYMENT_ID", None)
        try:
            return await start(self.workflow, [], world=self.world, **kw)
        finally:
            if old is not None:
                os.environ["WDK_DEPLOYMENT_ID"] = old

    async def wait(self, run: Any, predicate: Any) -> None:
        while True:
            info = await run.info()
            types = [e.type for e in await run.events()]
            if predicate(info, types):
                return
            assert info.status not in ("completed", "failed", "cancelled"), (info, types)
            await self.world.wait_for_change([f"run:{run.run_id}", f"done:{run.run_id}"], 0.5)


@pytest.fixture
async def project(tmp_path: Path, world_url: str) -> AsyncIterator[Project]:
    p = Project(tmp_path, world_url)
    await p.open()
    try:
        yield p
    finally:
        await p.world.close()


async def sleeping_run(project: Project) -> Any:
    """A v1 run whose worker was SIGKILLed while the run slept."""
    project.deploy(V1)
    run = await project.start()
    with project.worker(kill=True):
        await project.wait(run, lambda _i, types: "wait_created" in types)
    return run


async def test_a_run_killed_mid_sleep_blocks_on_an_inserted_step_and_a_rollback_finishes_it(
    project: Project,
) -> None:
    run = await sleeping_run(project)
    project.deploy(INSERTED)
    with project.worker():
        await project.wait(run, lambda info, _t: info.status == "blocked")
    block = serde.decode((await run.info()).error)
    assert block["code"] == "REPLAY_DIVERGENCE"
    assert block["location"] == f"{project.module}.py:7"  # b = await extra()
    assert f"step//{project.module}.py//extra" in block["message"]

    shown = project.wdk("inspect", "runs", "--status", "blocked", "--json")
    assert shown.returncode == 0 and run.run_id in shown.stdout

    project.deploy(V1)  # roll back: a worker on the old code takes it again on start
    with project.worker():
        assert await run.return_value(timeout=60) == [1, 2]
    assert project.effects() == ["first", "second"]  # no step ran twice


async def test_the_same_change_behind_patched_keeps_old_runs_old_and_new_runs_new(
    project: Project,
) -> None:
    old = await sleeping_run(project)
    project.deploy(PATCHED)
    with project.worker():
        new = await project.start()
        assert await old.return_value(timeout=60) == [1, 2]
        assert await new.return_value(timeout=60) == [1, 10, 2]
    assert sorted(project.effects()) == sorted(["first", "second", "first", "extra", "second"])


async def test_wdk_replay_gates_the_unpatched_change_and_passes_the_patched(
    project: Project, tmp_path: Path
) -> None:
    run = await sleeping_run(project)
    before = len(await run.events())
    exported = project.wdk("export", run.run_id, "-o", str(tmp_path / "run.json"))
    assert exported.returncode == 0, exported.stderr

    project.deploy(INSERTED)
    gate = project.wdk("replay", "--root", str(project.root))
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert run.run_id in gate.stdout and f"{project.module}.py:7" in gate.stdout
    assert "patched" in gate.stdout

    project.deploy(PATCHED)
    gate = project.wdk("replay", "--root", str(project.root))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    history = project.wdk(
        "replay", "--root", str(project.root), "--history", str(tmp_path / "run.json")
    )
    assert history.returncode == 0, history.stdout + history.stderr
    assert_replays(tmp_path / "run.json", root=project.root)  # the pytest helper
    assert project.effects() == ["first"]  # replay ran no step
    assert len(await run.events()) == before  # and wrote nothing


async def test_pinned_deployments_drain_on_their_own_workers_and_adopt_moves_runs(
    project: Project,
) -> None:
    project.deploy(V1.replace('await wdk.sleep("1s")', "pass"))
    v1_run = await project.start(deployment_id="v1")
    with project.worker("--deployment", "v2"):
        v2_run = await project.start(deployment_id="v2")
        assert await v2_run.return_value(timeout=60) == [1, 2]
        assert (await v1_run.info()).status == "pending"  # left to v1 workers
    with project.worker("--deployment", "v1"):
        assert await v1_run.return_value(timeout=60) == [1, 2]

    stray = await project.start(deployment_id="v1")
    with project.worker("--deployment", "v2", "--adopt"):
        assert await stray.return_value(timeout=60) == [1, 2]
    info = await stray.info()
    assert info.deployment_id == "v2"


async def test_a_worker_missing_the_workflow_blocks_and_one_that_has_it_finishes(
    project: Project,
) -> None:
    project.deploy('async def other() -> int:\n    "use workflow"\n    return 0\n')
    run = await project.start()
    with project.worker():
        await project.wait(run, lambda info, _t: info.status == "blocked")
    types = [e.type for e in await run.events()]
    assert "run_failed" not in types
    project.deploy(V1.replace('await wdk.sleep("1s")', "pass"))
    with project.worker():
        assert await run.return_value(timeout=60) == [1, 2]


FATAL = (
    """import wdk


async def flow() -> list:
    "use workflow"
    a = await first()
    return [a, await broken()]


def broken() -> int:
    "use step"
    _mark("broken")
    {body}
"""
    + STEPS
)


async def test_wdk_fork_after_a_fatal_error_and_a_fix_runs_the_earlier_steps_once(
    project: Project,
) -> None:
    project.deploy(FATAL.format(body='raise wdk.FatalError("bug")'))
    run = await project.start()
    with project.worker():
        await project.wait(run, lambda info, _t: info.status == "failed")
    project.deploy(FATAL.format(body="return 2"))
    forked = project.wdk("fork", run.run_id[:-4])  # a unique prefix works
    assert forked.returncode == 0, forked.stderr
    new_id = forked.stdout.strip()
    assert new_id.startswith("wrun_") and new_id != run.run_id
    with project.worker():
        assert await get_run(new_id, world=project.world).return_value(timeout=60) == [1, 2]
    assert project.effects() == ["first", "broken", "broken"]
    shown = json.loads(project.wdk("inspect", "runs", "--json").stdout)
    forked_row = next(r for r in shown if r["run_id"] == new_id)
    assert forked_row["forked_from"] == run.run_id
