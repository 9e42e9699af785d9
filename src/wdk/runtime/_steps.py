"""Steps: running a step attempt, recording it, and the step-thread chain.

:class:`StepRunner` owns what happens to a step job once the worker has one: decoding it
(``_prepare``), running it on the loop or in a step thread, recording its outcome, and going on
with the run's next inline steps. On a world that can write from any thread (SQLite), a sync
step's thread records the step itself and goes on with the run's next sync step (``_chain``):
no trip through the event loop per step. A step known to be sync starts its chain with no task
of the loop waiting (``_detached``), and a chain yields its thread when other work waits for
one. A step this code does not have parks the run (``_park_step``).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import msgpack
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wdk import serde
from wdk._duration import parse_duration
from wdk.errors import DurationError, FatalError
from wdk.runtime import _parking
from wdk.runtime._executor import (
    RetryPolicy,
    StepCall,
    StepOutcome,
    run_step,
    run_step_blocking,
    settle_step,
)
from wdk.runtime._instance import (
    Command,
    WorkflowInstance,
)
from wdk.runtime._keys import dedup_key
from wdk.runtime._loader import Project
from wdk.runtime._metadata import StepMetadata, WorkflowMetadata
from wdk.runtime._runlock import RunLock
from wdk.runtime._threads import StepThreads
from wdk.worlds.base import (
    Appended,
    BlockingWrites,
    DuplicateEvent,
    EventType,
    NewEvent,
    TokenConflict,
    World,
)

__all__ = ["StepRunner"]

log = logging.getLogger("wdk.worker")


@dataclass
class _StepJob:
    run_id: str
    cid: str
    data: bytes
    attempt: int
    message_id: int
    #: created by this worker and counted in its inline slots (a claimed step message is not)
    inline: bool = True
    #: the step's id when known without decoding ``data`` (inline jobs)
    step_id: str = ""


@dataclass
class _Handoff:
    """What a step thread's chain gives back to the event loop.

    ``jobs``: inline steps to run next (the loop launches them). ``job``: a step the thread
    did not record: its attempt ran (a retry, a write that lost its race, an awaitable
    result still to await: ``outcome``) or, with ``outcome`` None, is not a sync step and
    is still to run; the loop runs or settles it, records it and finishes the job.
    """

    jobs: list[_StepJob]
    job: _StepJob | None = None
    attempt: StepCall | None = None
    outcome: StepOutcome | Awaitable[Any] | None = None


def _resolution(cid: str, outcome: StepOutcome) -> tuple[NewEvent, float]:
    """The event that records a finished (completed or failed) step attempt, and its time."""
    etype = EventType.STEP_COMPLETED if outcome.status == "completed" else EventType.STEP_FAILED
    return NewEvent(etype, cid, outcome.data, dedup_key(etype, cid)), outcome.at


def _max_delay(step_id: str, fn: Any, info: dict[str, Any], project: Project) -> float | None:
    """A step's ``max_delay`` in seconds: set on its function, its call, or in the manifest.

    Raises FatalError (the attempt fails for good, saying what to write) when it is not a
    duration: retrying cannot fix it.
    """
    declared = getattr(fn, "max_delay", None)
    if declared is None:
        declared = info.get("max_delay")
    if declared is None:
        declared = getattr(project.step_info(step_id), "max_delay", None)
    if declared is None:
        return None
    try:
        return parse_duration(declared)
    except DurationError as exc:
        name = step_id.rsplit("//", 1)[-1].rsplit("/", 1)[-1].replace("#", ".")
        raise FatalError(
            f"step {step_id}: max_delay {declared!r} is not a duration ({exc}); write, e.g.,"
            f' `{name}.max_delay = "30s"` (or a number of seconds)'
        ) from None


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC)


class _WorkerState:
    """What every part of the worker shares (set in ``Worker.__init__``).

    Also the run-pass methods the step side calls, defined by
    :class:`~wdk.runtime._passes.RunPasses` (and ``_done`` by the worker itself).
    """

    world: World
    project: Project
    worker_id: str
    deployment_id: str | None
    adopt: bool
    lease_s: float
    retry_policy: RetryPolicy
    cache_size: int
    inline_limit: int
    log_sink: Callable[[str, str], None] | None
    base_url: str
    sandbox_config: Any
    clock: Callable[[], float]
    processed_steps: int
    limited_seen: bool
    _threads: StepThreads
    _cache: OrderedDict[str, WorkflowInstance]
    _run_locks: dict[str, RunLock]
    _blocking: BlockingWrites | None
    _sync_steps: dict[str, bool]
    _count_lock: threading.Lock
    _held: set[int]
    _inline: int
    _tg: Any
    _handoffs: MemoryObjectSendStream[_Handoff] | None
    _loop: asyncio.AbstractEventLoop | None

    def _done(self) -> bool:
        raise NotImplementedError

    def _lock(self, run_id: str) -> RunLock:
        raise NotImplementedError

    def _evict(self, run_id: str) -> None:
        raise NotImplementedError

    def _apply(self, inst: WorkflowInstance, event: NewEvent, at: float) -> None:
        raise NotImplementedError

    async def _resolve(
        self, run_id: str, event: NewEvent, at: float, ack: list[int]
    ) -> list[_StepJob]:
        raise NotImplementedError

    def _plan(self, inst: WorkflowInstance, pre: list[NewEvent]) -> Any:
        raise NotImplementedError

    def _written(self, inst: WorkflowInstance, plan: Any, appended: Appended) -> list[_StepJob]:
        raise NotImplementedError


class StepRunner(_WorkerState):
    """The worker's step side (see the module docstring)."""

    # -- steps -----------------------------------------------------------------------------
    def _launch(self, jobs: list[_StepJob]) -> _StepJob | None:
        """Start inline steps; the first one that needs a task of the loop is returned.

        A step known to be sync, on a world that can write from any thread, goes straight to
        a step thread that runs and records it with no task of the loop waiting for it
        (:meth:`_detached`); the others run in tasks of their own, but the first, which the
        caller runs next in its own task (a task spawn and a loop hop fewer per step).
        """
        first = None
        for job in jobs:
            if self._blocking is not None and self._sync_steps.get(job.step_id, False):
                self._threads.submit(functools.partial(self._detached, job))
            elif first is None:
                first = job
            else:
                self._tg.start_soon(self._run_inline, job)
        return first

    def _inline_job(self, run_id: str, cmd: Command, message_id: int) -> _StepJob:
        """A step this worker created leased to itself (its queue row's id from the append)."""
        with self._count_lock:
            self._inline += 1
        self._held.add(message_id)
        return _StepJob(run_id, cmd.cid, cmd.data or b"", 1, message_id, step_id=cmd.name)

    def _finish(self, job: _StepJob) -> None:
        """Done with a step job: recorded, handed on, or given up (from any thread)."""
        self._held.discard(job.message_id)
        with self._count_lock:
            self.processed_steps += 1
            if job.inline:
                self._inline -= 1

    async def _run_inline(self, job: _StepJob | None) -> None:
        """Run an inline step, then the next inline step its run made, and so on."""
        while job is not None:
            jobs: list[_StepJob] = []
            try:
                jobs = await self._execute_step(job, follow=True)
            except Exception:
                log.exception("inline step %s of %s failed to record", job.cid, job.run_id)
            job = self._launch(jobs)

    async def _execute_step(self, job: _StepJob, *, follow: bool) -> list[_StepJob]:
        """Run one step attempt and record it; returns the inline steps its run made next.

        A sync step on a world that can write from any thread goes to a step thread that
        also records it and, with ``follow``, runs and records the run's next steps while
        each makes exactly one more sync step (:meth:`_chain`): no trip through the event
        loop per step. Every job is finished (:meth:`_finish`) by whoever recorded it.
        """
        try:
            attempt = self._prepare(job)
        except BaseException:
            self._finish(job)
            raise
        if attempt.blocking and self._blocking is not None:
            # From here the step thread owns the jobs it runs, up to the one it hands back.
            chain = functools.partial(self._chain, job, attempt, follow)
            handoff: _Handoff = await self._threads.run(chain)
            return await self._finish_handoff(handoff)
        return await self._conclude(job, attempt, None)

    async def _finish_handoff(self, handoff: _Handoff) -> list[_StepJob]:
        """Finish what a chain handed back; returns the inline steps to run next."""
        if handoff.job is None or handoff.attempt is None:
            return handoff.jobs
        return await self._conclude(handoff.job, handoff.attempt, handoff.outcome)

    async def _conclude(
        self, job: _StepJob, attempt: StepCall, pending: StepOutcome | Awaitable[Any] | None
    ) -> list[_StepJob]:
        """Run (``pending`` None) or settle a step attempt, record it and finish the job."""
        try:
            if pending is None and _parking.is_missing_code(attempt.resolve_error):
                assert attempt.resolve_error is not None
                await self._park_step(job, attempt.resolve_error)
                return []
            if pending is None:
                outcome = await run_step(
                    attempt, policy=self.retry_policy, clock=self.clock, threads=self._threads
                )
            elif isinstance(pending, StepOutcome):
                outcome = pending
            else:
                outcome = await settle_step(
                    pending, attempt, policy=self.retry_policy, clock=self.clock
                )
            return await self._record(job, outcome)
        finally:
            self._finish(job)

    async def _park_step(self, job: _StepJob, exc: BaseException) -> None:
        """Block the run of a step this code does not have; the step's message goes.

        Not a step failure and not retried: ``wdk retry`` (or a worker on other code)
        queues the step again.
        """
        step_id = job.step_id or msgpack.unpackb(job.data, raw=False).get("step", "")
        event = _parking.step_block_event(
            job.run_id, step_id, exc, self.project, self.worker_id, self.clock()
        )
        log.warning("run %s is blocked: step %s is not in this code", job.run_id, step_id)
        async with self._lock(job.run_id):
            self._evict(job.run_id)
            await self.world.append(job.run_id, [event], ack=[job.message_id])

    def _prepare(self, job: _StepJob) -> StepCall:
        """Decode a step message: the callable, its arguments, its retry budget, metadata."""
        info = msgpack.unpackb(job.data, raw=False)
        step_id = info["step"]
        attempt = StepCall()
        try:
            closure = serde.decode(info["closure"]) if info.get("closure") else {}
            attempt.fn = self.project.step_callable(step_id, closure)
            attempt.args = tuple(serde.decode(info["args"]))
            attempt.kwargs = serde.decode(info["kwargs"]) if info.get("kwargs") else {}
            declared = getattr(attempt.fn, "max_retries", None)
            if declared is None:
                declared = info.get("max_retries")
            if declared is None:
                step_info = self.project.step_info(step_id)
                declared = getattr(step_info, "max_retries", None)
            if isinstance(declared, int) and declared >= 0:
                attempt.max_retries = declared
            attempt.max_delay = _max_delay(step_id, attempt.fn, info, self.project)
            sync = self._sync_steps.get(step_id)
            if sync is None or closure:
                sync = self._sync_steps[step_id] = not inspect.iscoroutinefunction(attempt.fn)
            attempt.blocking = sync
        except Exception as exc:  # noqa: BLE001 - loading a step is part of its attempt
            attempt.fn, attempt.resolve_error = None, exc
        now = self.clock()
        inst = self._cache.get(job.run_id)
        attempt.workflow = (inst.metadata if inst is not None else None) or WorkflowMetadata(
            workflow_name="", workflow_run_id=job.run_id, workflow_started_at=_utc(now), url=""
        )
        attempt.meta = StepMetadata(
            step_id=job.cid,
            step_name=step_id.rsplit("//", 1)[-1],
            attempt=job.attempt,
            step_started_at=_utc(now),
        )
        return attempt

    async def _record(self, job: _StepJob, outcome: StepOutcome) -> list[_StepJob]:
        """Record a step attempt's outcome; returns the inline steps its run made next."""
        cid = job.cid
        if outcome.status == "retry":
            await self.world.append(
                job.run_id, [NewEvent(EventType.STEP_RETRYING, cid, outcome.data)]
            )
            await self.world.release(job.message_id, not_before=outcome.retry_at)
            return []
        event, at = _resolution(cid, outcome)
        return await self._resolve(job.run_id, event, at, ack=[job.message_id])

    # -- the step-thread fast path -----------------------------------------------------------
    def _detached(self, job: _StepJob) -> None:
        """In a step thread, with no task of the loop waiting: :meth:`_chain` from ``job``.

        Only what the chain hands back (a retry, a lost race, an async step, several steps)
        wakes the event loop, in a task that takes it over (:meth:`_continue_handoff`).
        """
        try:
            handoff = self._chain(job, None, True)
        except Exception:
            log.exception("inline step %s of %s failed to record", job.cid, job.run_id)
            return
        if handoff.jobs or handoff.job is not None:
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._post_handoff, handoff)
            except RuntimeError:
                pass  # the loop is closed: the jobs' leases lapse and another worker retries

    def _post_handoff(self, handoff: _Handoff) -> None:
        """On the loop: queue a detached chain's hand-off for :meth:`_receive_handoffs`."""
        try:
            assert self._handoffs is not None
            self._handoffs.send_nowait(handoff)
        except anyio.ClosedResourceError:
            pass  # the worker stopped without waiting: the jobs' leases lapse, as above

    async def _receive_handoffs(self, handoffs: MemoryObjectReceiveStream[_Handoff]) -> None:
        """The loop's side of :meth:`_detached`: a task per chain's hand-back."""
        async for handoff in handoffs:
            self._tg.start_soon(self._continue_handoff, handoff)

    async def _continue_handoff(self, handoff: _Handoff) -> None:
        """Finish what a detached chain handed back, then go on with the run's next steps."""
        jobs: list[_StepJob] = []
        try:
            jobs = await self._finish_handoff(handoff)
        except Exception:
            log.exception("a step handed back by its thread failed to record")
        await self._run_inline(self._launch(jobs))

    def _chain(self, job: _StepJob, attempt: StepCall | None, follow: bool) -> _Handoff:
        """In a step thread: run ``job``'s sync step and record it, then the next, and so on.

        ``attempt`` is ``job`` decoded, or None to decode it here.

        It goes on (with ``follow``) while the run makes exactly one new step and that step
        is sync too, and no other work waits for a step thread (else the next step queues
        behind that work); the event loop stays free meanwhile. Whatever it cannot do here (a
        retry to schedule, a write that lost a race, an async step, several new steps) goes
        back to the loop in the :class:`_Handoff`. Every job it recorded it has finished.
        """
        blocking = self._blocking
        assert blocking is not None
        while True:
            try:
                if attempt is None:
                    attempt = self._prepare(job)
                    if not attempt.blocking or attempt.resolve_error is not None:
                        return _Handoff([], job, attempt)  # the loop runs (or parks) it
                outcome = run_step_blocking(attempt, policy=self.retry_policy, clock=self.clock)
                if not isinstance(outcome, StepOutcome) or outcome.status == "retry":
                    return _Handoff([], job, attempt, outcome)
                jobs = self._resolve_blocking(blocking, job, outcome)
                if jobs is None:
                    return _Handoff([], job, attempt, outcome)
            except BaseException:
                self._finish(job)
                raise
            self._finish(job)
            if not follow or len(jobs) != 1 or self._done():
                return _Handoff(jobs)
            job, attempt = jobs[0], None
            if self._threads.busy():
                # Other runs' steps wait for a thread: this run goes on behind them, so a
                # long run of sync steps does not keep its thread from everyone else.
                self._threads.submit(functools.partial(self._detached, job))
                return _Handoff([])

    def _resolve_blocking(
        self, blocking: BlockingWrites, job: _StepJob, outcome: StepOutcome
    ) -> list[_StepJob] | None:
        """:meth:`_resolve` in a step thread, when the run's instance is cached and current.

        None when it could not record (the caller hands the outcome to the event loop).
        """
        run_id = job.run_id
        lock = self._run_locks.get(run_id)
        if lock is None:
            return None
        event, at = _resolution(job.cid, outcome)
        with lock.blocking():
            inst = self._cache.get(run_id)
            if inst is None or inst.outcome is not None:
                return None
            self._apply(inst, event, at)
            plan = self._plan(inst, [event])
            if plan is None:
                blocking.ack_blocking([job.message_id])
                return []
            try:
                appended = blocking.append_blocking(
                    run_id,
                    plan.events,
                    enqueue=plan.enqueue,
                    ack=[job.message_id],
                    expect_seq=inst.last_seq,
                    durable=plan.durable,
                )
            except (TokenConflict, DuplicateEvent):
                # The instance ran ahead of a log that moved: drop it; the loop records the
                # outcome alone and the next pass replays.
                inst.requeue_unwritten(plan.cmds)
                self._evict(run_id)
                return None
            return self._written(inst, plan, appended)
