"""``wdk.Queue`` and starts on a queue, in process: declarations, options, errors, lifecycle."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from harness import running

from wdk import DurationError, Queue, QueueError
from wdk.api import list_runs, start
from wdk.compiler import compile_source
from wdk.worlds import open_world

pytestmark = pytest.mark.anyio

QUEUES = Path(__file__).resolve().parents[2] / "fixtures" / "queues"
if str(QUEUES) not in sys.path:
    sys.path.insert(0, str(QUEUES))

import queue_flows as flows  # noqa: E402


@pytest.fixture(autouse=True)
def _queue_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_LOG", str(tmp_path / "log.txt"))
    monkeypatch.setenv("QUEUE_GATE", str(tmp_path / "gate"))


def test_a_declaration_checks_its_limits_and_names_its_line() -> None:
    where = f"{__file__}:{sys._getframe().f_lineno + 2}"
    with pytest.raises(QueueError) as bad_rate:
        Queue("x", rate="10 per sec")
    assert str(bad_rate.value).startswith(f"{where}: Queue('x') invalid rate '10 per sec'")
    assert '"10/s"' in str(bad_rate.value)
    for kwargs, field in [
        ({"concurrency": 0}, "concurrency=0"),
        ({"per_key_concurrency": 1.5}, "per_key_concurrency=1.5"),
        ({"rate": "0/s"}, "invalid rate"),
        ({"rate": "5/fortnight"}, "invalid rate"),
    ]:
        with pytest.raises(QueueError, match=field):
            Queue("x", **kwargs)
    with pytest.raises(QueueError, match="Queue name"):
        Queue("")
    q = Queue("ok", concurrency=3, per_key_concurrency=1, rate="20/10s", priority=False)
    assert repr(q) == (
        "Queue('ok', concurrency=3, per_key_concurrency=1, rate='20/10s', priority=False)"
    )
    assert (q.spec.rate_limit, q.spec.rate_period) == (20, 10.0)


def test_the_compiler_allows_a_module_level_queue() -> None:
    source = textwrap.dedent(
        """
        from wdk import Queue

        reports = Queue("reports", concurrency=2)

        async def wf() -> None:
            "use workflow"
        """
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert not result.errors


def test_a_bad_queue_in_a_workflow_module_fails_its_import_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "badq.py").write_text(
        'from wdk import Queue\n\nemails = Queue("emails", rate="10 per sec")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(QueueError, match=rf"{tmp_path / 'badq.py'}:3: Queue\('emails'\)"):
        __import__("badq")


async def _world(tmp_path: Path) -> Any:
    world = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    await world.setup()
    return world


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"queue": "nope"}, QueueError, "unknown queue 'nope': declare it with wdk.Queue"),
        ({"key": "k"}, QueueError, "key needs a queue"),
        ({"dedupe_key": "d", "priority": 1}, QueueError, "priority, dedupe_key needs a queue"),
        ({"queue": "reports", "debounce": "5s"}, QueueError, "debounce needs a key"),
        ({"queue": "fifo", "priority": 2}, QueueError, "first in, first out"),
        ({"queue": "reports", "priority": "high"}, QueueError, "expected an integer"),
        ({"queue": "reports", "delay": "10 minutes"}, DurationError, "invalid duration"),
    ],
)
async def test_bad_start_options_write_nothing(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    world = await _world(tmp_path)
    try:
        with pytest.raises(error, match=match):
            await start(flows.job, ["x"], world=world, **kwargs)
        assert (await list_runs(world=world)).runs == []
    finally:
        await world.close()


async def test_a_queued_run_shows_queued_then_runs_and_replays(world: Any) -> None:
    async with running(world, root=QUEUES) as h:
        blocker = await start(flows.gated_job, ["b"], world=world, queue="serial")
        run = await start(flows.job, ["x", 0], world=world, queue="serial", key="k", priority=3)
        assert await run.status() == "queued"
        info = await run.info()
        assert (info.queue, info.queue_key, info.priority) == ("serial", "k", 3)
        page = await world.list_runs(status="queued")
        assert [r.run_id for r in page.runs] == [run.run_id]
        await blocker.cancel()  # a cancelled run frees its slot too
        Path(os.environ["QUEUE_GATE"]).touch()  # let the step thread go
        assert await run.return_value(timeout=60) == "x"
        await h.check_replay(run)


async def test_delay_with_and_without_a_queue(world: Any) -> None:
    async with running(world, root=QUEUES):
        plain = await start(flows.job, ["p", 0], world=world, delay="300ms")
        queued = await start(flows.job, ["q", 0], world=world, queue="reports", delay=0.3)
        assert await plain.status() == "pending"
        assert await queued.status() == "queued"
        assert await plain.return_value(timeout=60) == "p"
        assert await queued.return_value(timeout=60) == "q"
        for run in (plain, queued):
            info = await run.info()
            assert info.started_at is not None and info.started_at - info.created_at >= 0.3


async def test_dedupe_key_answers_the_same_run(world: Any) -> None:
    async with running(world, root=QUEUES):
        first = await start(
            flows.gated_job, ["g"], world=world, queue="serial", dedupe_key="invoice-991"
        )
        again = await start(
            flows.gated_job, ["g2"], world=world, queue="serial", dedupe_key="invoice-991"
        )
        assert (again.run_id, again.existing, first.existing) == (first.run_id, True, False)
        await first.cancel()
        Path(os.environ["QUEUE_GATE"]).touch()  # let the step thread go
        third = await start(
            flows.job, ["t", 0], world=world, queue="serial", dedupe_key="invoice-991"
        )
        assert third.run_id != first.run_id and not third.existing
        assert await third.return_value(timeout=60) == "t"
