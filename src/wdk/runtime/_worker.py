"""The worker: claims queue messages and advances runs.

Three message kinds:

* ``workflow`` (key ``wf:<run>``): bring the run's instance up to date with its log, run the
  code, write the commands it made (and its end, if it ended).
* ``step`` (key ``step:<run>:<cid>``): run one step attempt and record the outcome.
* ``timer`` (key ``timer:<run>:<cid>``): a sleep is due; record ``wait_completed``.

Where the speed comes from:

* **Cache**: instances stay in memory between events (LRU), so an n-step run costs O(n), not
  the O(n^2) of replaying from the top on every event. Replay from the log is the fallback
  after a restart or on another worker, and gives the same result.
* **Inline steps**: steps the worker's own runs create are created already leased to it and
  run at once, with no queue round trip. The queue row stays the source of truth: if the
  worker dies, the lease expires and another worker runs the step.
* **One commit per step**: when an inline step finishes and the run's instance is cached and
  current, the worker applies the completion in memory first and appends "step k completed"
  together with whatever the code did next ("step k+1 created", or the run's end) in one
  transaction, guarded by ``expect_seq``. If anything else reached the log meanwhile the guard
  fails, the instance (now ahead of the log) is dropped, and the completion is recorded on its
  own; the next workflow pass replays. Both paths write the same log.
* **Step-thread chains**: on a world that can write from any thread (SQLite), a sync step's
  thread records the step itself and goes on with the run's next sync step (``_chain``): no
  trip through the event loop per step. The run's :class:`RunLock` serialises it with the
  loop's tasks. A step known to be sync starts its chain with no task of the loop waiting
  (``_detached``), and a chain yields its thread when other work waits for one.
* **Starts beside the worker**: a run started on this worker's event loop commits its first
  pass together with ``run_created`` (:meth:`Worker.start_run`): no workflow message, no claim.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import logging
import math
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import msgpack
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wdk import serde
from wdk.errors import RUNTIME_ERROR, WorkflowError
from wdk.runtime import _local, _parking
from wdk.runtime._divergence import _Divergence
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
    RunStart,
    WorkflowInstance,
    _Teardown,
    encode_run_error,
)
from wdk.runtime._loader import Project, default_project
from wdk.runtime._metadata import StepMetadata, WorkflowMetadata
from wdk.runtime._replay import load_workflow, project_sandbox_config
from wdk.runtime._runlock import RunLock
from wdk.runtime._threads import StepThreads
from wdk.worlds.base import (
    Appended,
    BlockingWrites,
    DuplicateEvent,
    Event,
    EventType,
    Message,
    NewEvent,
    NewMessage,
    TokenConflict,
    World,
)

__all__ = ["Worker"]

log = logging.getLogger("wdk.worker")

KINDS = ("workflow", "step", "timer")

#: Events a replay writes again if they are lost (it re-derives them from the durable ones
#: before them). A commit of only these, such as a run's first pass, needs no fsync of its
#: own: the next durable commit (the first step's completion) flushes it too.
_REDERIVABLE = frozenset(
    {
        EventType.RUN_STARTED,
        EventType.STEP_CREATED,
        EventType.STEP_STARTED,
        EventType.WAIT_CREATED,
        EventType.PATCHED,
    }
)


def wf_message(run_id: str, not_before: float = 0.0) -> NewMessage:
    """The wake-up message of a run (one live per run: see NewMessage's dirty flag)."""
    return NewMessage("workflow", run_id, f"wf:{run_id}", not_before=not_before)


def step_key(run_id: str, cid: str) -> str:
    """The queue key of a step's message (one live per step call)."""
    return f"step:{run_id}:{cid}"


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
class _Plan:
    """One append that records a run's progress (see ``Worker._plan``)."""

    cmds: list[Command]
    events: list[NewEvent]
    enqueue: list[NewMessage]
    inline: list[Command]
    durable: bool = True


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


def _run_started(at: float) -> NewEvent:
    """The event that starts a run (its first pass), at workflow time ``at``."""
    return NewEvent(EventType.RUN_STARTED, None, serde.encode({"at": at}), "run:started")


def _resolution(cid: str, outcome: StepOutcome) -> tuple[NewEvent, float]:
    """The event that records a finished (completed or failed) step attempt, and its time."""
    etype = EventType.STEP_COMPLETED if outcome.status == "completed" else EventType.STEP_FAILED
    return NewEvent(etype, cid, outcome.data, f"{cid}:d"), outcome.at


class Worker:
    """Runs queued workflow, step and timer work from one world.

    Args:
        world: where runs live.
        project: where user code lives (the process-wide default if None).
        concurrency: queue slots: messages claimed and handled at once.
        inline_limit: steps of this worker's own runs executed at once without a queue
            round trip (beyond it, new steps are queued for any worker).
        step_threads: threads for sync steps (async steps run on the event loop).
        lease_s: how long a claimed message is ours before another worker may take it;
            heartbeats extend it while work is in flight.
        retry_policy: backoff for steps that raise ordinary exceptions.
        cache_size: how many suspended runs to keep in memory.
        deployment_id: pin the worker to one deployment: it claims only runs (and their
            steps) of that deployment. None reads ``WDK_DEPLOYMENT_ID``; unset, it takes any.
        adopt: with a deployment, also take other deployments' runs and move them to it.
        blocked_sweep_s: how often to look for blocked runs that this code may advance.
    """

    def __init__(
        self,
        world: World,
        project: Project | None = None,
        *,
        worker_id: str | None = None,
        concurrency: int = 8,
        inline_limit: int = 256,
        step_threads: int = 32,
        lease_s: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        cache_size: int = 1000,
        idle_poll_s: float = 5.0,
        log_sink: Callable[[str, str], None] | None = None,
        base_url: str = "",
        sandbox_config: Any = None,
        deployment_id: str | None = None,
        adopt: bool = False,
        blocked_sweep_s: float = 60.0,
    ) -> None:
        self.world = world
        self.deployment_id = deployment_id or os.environ.get("WDK_DEPLOYMENT_ID") or None
        self.adopt = adopt and self.deployment_id is not None
        self.blocked_sweep_s = blocked_sweep_s
        self.blocked_sweeps = 0  # sweeps done (tests wait on it)
        #: what claims filter on: this worker's deployment, unless it adopts (takes any)
        self._claims_for = None if self.adopt else self.deployment_id
        self.project = project or default_project()
        self.worker_id = worker_id or f"w-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.concurrency = max(1, concurrency)
        self.inline_limit = max(0, inline_limit)
        self.lease_s = lease_s
        self.retry_policy = retry_policy or _policy_from_env()
        self.cache_size = cache_size
        self.idle_poll_s = idle_poll_s
        self.log_sink = log_sink
        self.base_url = base_url
        self.sandbox_config = sandbox_config or project_sandbox_config(self.project)
        self.clock: Callable[[], float] = getattr(world, "clock", time.time)
        self._threads = StepThreads(step_threads)
        self._cache: OrderedDict[str, WorkflowInstance] = OrderedDict()
        self._run_locks: dict[str, RunLock] = {}
        self._blocking = world if isinstance(world, BlockingWrites) else None
        #: step id -> sync, learnt from each step's first call (see _launch)
        self._sync_steps: dict[str, bool] = {}
        self._count_lock = threading.Lock()
        self._held: set[int] = set()
        self._inline = 0
        self._stopping = False
        self._idle_scopes: set[anyio.CancelScope] = set()
        self._tg: Any = None
        self._handoffs: MemoryObjectSendStream[_Handoff] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.processed_steps = 0

    # -- loop --------------------------------------------------------------------------------
    async def run(
        self, *, until: Callable[[], bool] | None = None, handle_signals: bool = False
    ) -> None:
        """Work until :meth:`stop` (or ``until()`` is true after some work).

        With ``handle_signals`` SIGTERM/SIGINT stop claiming new work, let in-flight work
        finish (graceful drain) and return.
        """
        self.project.install_finder()
        self._until = until
        self._loop = asyncio.get_running_loop()
        self._handoffs, handoffs = anyio.create_memory_object_stream[_Handoff](math.inf)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if handle_signals:
                    tg.start_soon(self._watch_signals, tg.cancel_scope)
                tg.start_soon(self._heartbeat)
                tg.start_soon(self._receive_handoffs, handoffs)
                tg.start_soon(self._retry_blocked)
                async with anyio.create_task_group() as handlers:
                    _local.register(self.world, self)
                    try:
                        await self._dispatch(handlers)
                    finally:
                        _local.unregister(self.world, self)
                await self._drain()
                tg.cancel_scope.cancel()
        finally:
            self._threads.shutdown()
            self._handoffs.close()
            handoffs.close()

    async def _retry_blocked(self) -> None:
        """On start, then every ``blocked_sweep_s``: retry runs other code parked.

        Periodically too, because an older worker still running beside this one may park a
        run this code can advance (a rolling deploy).
        """
        while not self._done():
            try:
                await _parking.retry_blocked(
                    self.world, self.project, deployment_id=self._claims_for
                )
            except Exception:
                log.exception("worker %s: retrying blocked runs failed", self.worker_id)
            self.blocked_sweeps += 1
            await anyio.sleep(self.blocked_sweep_s)

    def stop(self) -> None:
        """Stop claiming new work; :meth:`run` returns once in-flight work is done."""
        self._stopping = True
        for scope in list(self._idle_scopes):
            scope.cancel()

    async def _drain(self) -> None:
        while self._inline > 0:
            await anyio.sleep(0.01)

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                log.info("worker %s: draining", self.worker_id)
                self.stop()
                return

    def _done(self) -> bool:
        return self._stopping or (self._until is not None and self._until())

    async def _dispatch(self, handlers: anyio.abc.TaskGroup) -> None:
        """Claim messages while there is capacity; each is handled in its own task.

        One claimer per worker, not one per slot: a change notification wakes one task, and
        an idle worker makes one empty claim per wake-up instead of ``concurrency`` of them.
        """
        capacity = anyio.Semaphore(self.concurrency)
        while not self._done():
            await capacity.acquire()
            try:
                msg = await self._claim()
            except Exception:
                capacity.release()
                log.exception("claim failed")
                await anyio.sleep(0.5)
                continue
            if msg is None:
                capacity.release()
                await self._idle()
                continue
            self._held.add(msg.id)
            handlers.start_soon(self._handle_claimed, msg, capacity)

    async def _claim(self) -> Message | None:
        if self._claims_for is None:  # the hot path: no filter argument at all
            return await self.world.claim(KINDS, worker_id=self.worker_id, lease_s=self.lease_s)
        return await self.world.claim(
            KINDS, worker_id=self.worker_id, lease_s=self.lease_s, deployment_id=self._claims_for
        )

    # -- runs started in this process (see wdk.runtime._local) -------------------------------
    async def start_run(self, run_id: str, created: NewEvent) -> bool:
        """Start a run here: its first pass runs now and commits with ``run_created``.

        One durable commit holds the run's creation, its start and what its code did first
        (say, its first step, leased to this worker and run at once): no workflow message, no
        claim, no separate first-pass commit. Returns False, writing nothing, when this
        worker cannot take the run (the caller is not on its event loop, it is stopping, or
        the first pass met a hook token held elsewhere); True once the run exists.
        """
        if _local.taker_for(self.world) is not self or self._done():
            return False
        if asyncio.get_running_loop() is not self._loop:
            return False
        async with self._lock(run_id):
            now = self.clock()
            inst = self._new_instance(
                run_id,
                RunStart.from_event(
                    Event(run_id, 1, created.type, created.correlation_id, created.data, now)
                ),
            )
            started = _run_started(now)
            self._apply(inst, started, now)
            plan = self._plan(inst, [created, started])
            assert plan is not None  # it holds the two events at least
            try:
                appended = await self.world.append(
                    run_id, plan.events, enqueue=plan.enqueue, expect_seq=0
                )
            except DuplicateEvent:
                inst.close()
                return True  # the run exists already (an idempotent start)
            except TokenConflict:
                inst.close()
                return False  # the normal path records the conflict in the run
            except BaseException:
                inst.close()
                raise
            self._remember(inst)
            jobs = self._written(inst, plan, appended)
        first = self._launch(jobs)
        if first is not None:
            self._tg.start_soon(self._run_inline, first)
        return True

    async def _handle_claimed(self, msg: Message, capacity: anyio.Semaphore) -> None:
        jobs: list[_StepJob] = []
        try:
            jobs = await self._handle(msg)
        except Exception:
            log.exception("worker %s failed handling %s %s", self.worker_id, msg.kind, msg.key)
        finally:
            self._held.discard(msg.id)
            capacity.release()
        # The slot is free again; this task goes on as the runner of the inline steps the
        # message led to (one task spawn fewer per message).
        await self._run_inline(self._launch(jobs))

    async def _idle(self) -> None:
        if self._done():
            return
        timeout = self.idle_poll_s
        due = (
            await self.world.next_due(KINDS)
            if self._claims_for is None
            else await self.world.next_due(KINDS, deployment_id=self._claims_for)
        )
        if due is not None:
            timeout = max(0.0, min(timeout, due - self.clock()))
        if timeout > 0:
            with anyio.CancelScope() as scope:
                self._idle_scopes.add(scope)
                try:
                    await self.world.wait_for_change(["queue"], timeout)
                finally:
                    self._idle_scopes.discard(scope)

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(self.lease_s / 3)
            for message_id in list(self._held):
                try:
                    await self.world.extend_lease(message_id, lease_s=self.lease_s)
                except Exception:
                    log.exception("lease extension failed")

    async def _handle(self, msg: Message) -> list[_StepJob]:
        """Handle one claimed message; returns the inline steps it led to (to run next)."""
        if msg.kind == "workflow":
            return await self._process_run(msg.run_id, ack=[msg.id])
        if msg.kind == "step":
            cid = msg.key.rsplit(":", 1)[-1]
            await self.world.append(
                msg.run_id,
                [
                    NewEvent(
                        EventType.STEP_STARTED,
                        cid,
                        serde.encode({"attempt": msg.deliveries, "at": self.clock()}),
                    )
                ],
            )
            job = _StepJob(
                msg.run_id, cid, msg.payload or b"", msg.deliveries, msg.id, inline=False
            )
            # follow=False: the chain of next steps runs after this message's slot is freed.
            return await self._execute_step(job, follow=False)
        if msg.kind == "timer":
            cid = (msg.payload or b"").decode()
            at = max(self.clock(), msg.not_before)
            event = NewEvent(EventType.WAIT_COMPLETED, cid, serde.encode({"at": at}), f"{cid}:d")
            return await self._resolve(msg.run_id, event, at, ack=[msg.id])
        log.warning("unknown message kind %r; dropping", msg.kind)
        await self.world.ack([msg.id])
        return []

    # -- runs ------------------------------------------------------------------------------
    def _lock(self, run_id: str) -> RunLock:
        """The run's lock (made here, on the event loop; step threads only look it up)."""
        lock = self._run_locks.get(run_id)
        if lock is None:
            lock = self._run_locks.setdefault(run_id, RunLock())
        return lock

    def _evict(self, run_id: str) -> None:
        inst = self._cache.pop(run_id, None)
        if inst is not None:
            inst.close()

    def _remember(self, inst: WorkflowInstance) -> None:
        self._cache[inst.run_id] = inst
        self._cache.move_to_end(inst.run_id)
        while len(self._cache) > self.cache_size:
            _, old = self._cache.popitem(last=False)
            lock = self._run_locks.get(old.run_id)
            if lock is None or not lock.locked():
                old.close()  # else its holder (maybe a step thread) is using it: leave it be

    def _load_workflow(self, inst: WorkflowInstance) -> Callable[..., Any]:
        return load_workflow(self.project, inst.workflow_id, self.sandbox_config)

    def _parked_here(self, events: list[Event]) -> bool:
        """Whether the log ends blocked by this very code (it would only block again)."""
        for event in reversed(events):
            if event.type == EventType.RUN_UNBLOCKED:
                return False
            if event.type == EventType.RUN_BLOCKED:
                return _parking.same_code(event.data, self.project)
        return False

    async def _instance(self, run_id: str) -> WorkflowInstance | None:
        """The run's instance, current with its log; None if the run is over or unknown."""
        inst = self._cache.get(run_id)
        if inst is not None:
            events = await self.world.read_events(run_id, after_seq=inst.last_seq)
            if any(e.type in EventType.RUN_TERMINAL for e in events):
                self._evict(run_id)
                return None
            self._feed(inst, events)
            return inst
        events = await self.world.read_events(run_id)
        if not events or events[0].type != EventType.RUN_CREATED:
            return None
        if any(e.type in EventType.RUN_TERMINAL for e in events) or self._parked_here(events):
            return None
        inst = self._new_instance(run_id, RunStart.from_event(events[0]))
        inst.mark_replay(events)
        self._feed(inst, events)
        self._remember(inst)
        return inst

    def _new_instance(self, run_id: str, start: RunStart) -> WorkflowInstance:
        return WorkflowInstance(
            run_id,
            start,
            load_workflow=self._load_workflow,
            log_sink=self.log_sink,
            base_url=self.base_url,
            is_user_module=lambda name: self.project.locate(name) is not None,
            locate=self.project.relative_location,
        )

    @staticmethod
    def _feed(inst: WorkflowInstance, events: list[Event]) -> None:
        try:
            inst.feed(events)
        except _Divergence as div:
            inst.fail_with(div)
            inst.last_seq = events[-1].seq if events else inst.last_seq

    async def _process_run(self, run_id: str, ack: list[int]) -> list[_StepJob]:
        """A workflow pass: bring the run up to date, run its code, write what it did.

        Returns the steps it created for inline execution (the caller runs them).
        """
        async with self._lock(run_id):
            inst = await self._instance(run_id)
            if inst is None:
                await self.world.ack(ack)
                return []
            pre: list[NewEvent] = []
            if inst.logged_block is not None and inst.blocked is None:
                # This code gets past what blocked the run: it runs again.
                pre.append(
                    NewEvent(
                        EventType.RUN_UNBLOCKED,
                        None,
                        serde.encode({"at": self.clock(), "by": self.worker_id}),
                    )
                )
            if self.adopt and inst.deployment_id != self.deployment_id:
                pre.append(
                    NewEvent(
                        EventType.RUN_ADOPTED,
                        None,
                        msgpack.packb({"deployment_id": self.deployment_id}),
                    )
                )
                inst.deployment_id = self.deployment_id
            if inst._main is None and inst.outcome is None and inst.blocked is None:
                at = self.clock()
                start = _run_started(at)
                self._apply(inst, start, at)
                pre.append(start)
            inline = await self._commit(inst, pre, ack=ack, speculative=bool(pre))
            if inline is not None:
                return inline
            # The first pass lost its race (a token conflict or a concurrent write):
            # record the start alone; the next pass continues from the log.
            try:
                await self.world.append(run_id, pre, enqueue=[wf_message(run_id)], ack=ack)
            except DuplicateEvent:
                await self.world.ack(ack)
            return []

    def _apply(self, inst: WorkflowInstance, event: NewEvent, at: float) -> None:
        try:
            inst.apply_new(event, at)
        except _Divergence as div:
            inst.fail_with(div)

    async def _resolve(
        self, run_id: str, event: NewEvent, at: float, ack: list[int]
    ) -> list[_StepJob]:
        """Record a resolution (step done, timer fired); returns new steps to run inline.

        When the run's instance is cached and current, the run continues in the same commit.
        """
        async with self._lock(run_id):
            inst = self._cache.get(run_id)
            if inst is not None and inst.outcome is None:
                self._apply(inst, event, at)
                inline = await self._commit(inst, [event], ack=ack, speculative=True)
                if inline is not None:
                    return inline
            await self._record_alone(run_id, event, ack)
            return []

    async def _record_alone(self, run_id: str, event: NewEvent, ack: list[int]) -> None:
        """Record a resolution with a wake-up for the run; the next pass replays it."""
        try:
            await self.world.append(run_id, [event], enqueue=[wf_message(run_id)], ack=ack)
        except DuplicateEvent:
            log.info(
                "run %s: %s for %s was already recorded; discarding this one",
                run_id,
                event.type,
                event.correlation_id,
            )
            await self.world.ack(ack)

    async def _commit(
        self, inst: WorkflowInstance, pre: list[NewEvent], *, ack: list[int], speculative: bool
    ) -> list[_StepJob] | None:
        """Write ``pre`` plus the instance's new commands (or its end).

        Returns the steps created for inline execution (the caller launches them), or None if
        the speculative write lost a race: the instance is dropped and the caller records
        ``pre`` on its own.
        """
        run_id = inst.run_id
        for _ in range(20):
            plan = self._plan(inst, pre)
            if plan is None:
                if ack:
                    await self.world.ack(ack)
                return []
            try:
                appended = await self.world.append(
                    run_id,
                    plan.events,
                    enqueue=plan.enqueue,
                    ack=ack,
                    expect_seq=inst.last_seq,
                    durable=plan.durable,
                )
            except TokenConflict as conflict:
                inst.requeue_unwritten(plan.cmds)
                if speculative:
                    self._evict(run_id)
                    return None
                await self._record_conflict(inst, conflict)
                continue
            except DuplicateEvent:
                inst.requeue_unwritten(plan.cmds)
                if speculative:
                    self._evict(run_id)
                    return None
                # Someone appended meanwhile. The instance did not run ahead of the log, so
                # read what is new and try again.
                self._feed(inst, await self.world.read_events(run_id, after_seq=inst.last_seq))
                continue
            return self._written(inst, plan, appended)
        raise WorkflowError(f"run {run_id}: could not write its progress after 20 attempts")

    def _plan(self, inst: WorkflowInstance, pre: list[NewEvent]) -> _Plan | None:
        """The append that records ``pre`` and the instance's new commands (or its end).

        None when there is nothing to write (only the ack is left to do).
        """
        if inst.ended:
            self._evict(inst.run_id)
            return None
        if inst.blocked is not None:
            return self._plan_block(inst, pre)
        cmds = inst.take_unwritten()
        plan = _Plan(cmds, list(pre), [], [])
        if inst.outcome is not None:
            etype = (
                EventType.RUN_COMPLETED
                if inst.outcome.status == "completed"
                else EventType.RUN_FAILED
            )
            plan.events.append(NewEvent(etype, None, inst.outcome.data, "run:end"))
        else:
            for cmd in cmds:
                self._command_events(inst.run_id, cmd, plan)
        if not plan.events:
            return None
        plan.durable = not _REDERIVABLE.issuperset(e.type for e in plan.events)
        return plan

    def _plan_block(self, inst: WorkflowInstance, pre: list[NewEvent]) -> _Plan | None:
        """The append that parks a run this code cannot advance (``pre`` and the block).

        No block is written when the log already ends blocked by this same code, and no
        message is enqueued: the run waits for a retry or other code, never a hot loop.
        """
        assert inst.blocked is not None
        events = [e for e in pre if e.type != EventType.RUN_UNBLOCKED]
        if inst.logged_block is None or not _parking.same_code(inst.logged_block, self.project):
            block = _parking.block_event(
                inst, inst.blocked, self.project, self.worker_id, self.clock()
            )
            events.append(block)
            log.warning("run %s is blocked: %s", inst.run_id, inst.blocked.message)
        return _Plan([], events, [], []) if events else None

    def _written(self, inst: WorkflowInstance, plan: _Plan, appended: Appended) -> list[_StepJob]:
        """Bookkeeping after ``plan`` committed; returns the steps to run inline."""
        run_id = inst.run_id
        inst.last_seq = appended.seq
        for cmd in plan.cmds:
            cmd.written = True
        if inst.outcome is not None or inst.blocked is not None:
            self._evict(run_id)
            self._run_locks.pop(run_id, None)
        if not plan.inline:
            return []
        ids = dict(zip((m.key for m in plan.enqueue), appended.message_ids, strict=True))
        return [
            self._inline_job(run_id, cmd, ids[step_key(run_id, cmd.cid)]) for cmd in plan.inline
        ]

    def _command_events(self, run_id: str, cmd: Command, plan: _Plan) -> None:
        events, enqueue, inline = plan.events, plan.enqueue, plan.inline
        cid = cmd.cid
        if cmd.kind == "step":
            events.append(NewEvent(EventType.STEP_CREATED, cid, cmd.data, f"{cid}:c"))
            key = step_key(run_id, cid)
            if self._inline + len(inline) < self.inline_limit and not self._done():
                enqueue.append(
                    NewMessage(
                        "step", run_id, key, cmd.data, lease_to=self.worker_id, lease_s=self.lease_s
                    )
                )
                events.append(
                    NewEvent(
                        EventType.STEP_STARTED,
                        cid,
                        serde.encode({"attempt": 1, "at": self.clock()}),
                    )
                )
                inline.append(cmd)
            else:
                enqueue.append(NewMessage("step", run_id, key, cmd.data))
        elif cmd.kind == "sleep":
            events.append(NewEvent(EventType.WAIT_CREATED, cid, cmd.data, f"{cid}:c"))
            enqueue.append(
                NewMessage(
                    "timer", run_id, f"timer:{run_id}:{cid}", cid.encode(), not_before=cmd.resume_at
                )
            )
        elif cmd.kind == "hook":
            events.append(NewEvent(EventType.HOOK_CREATED, cid, cmd.data, f"{cid}:c"))
        elif cmd.kind == "dispose":
            events.append(NewEvent(EventType.HOOK_DISPOSED, cid, None, f"{cid}:x"))
        elif cmd.kind == "patch":
            events.append(NewEvent(EventType.PATCHED, None, cmd.data, cid))

    async def _record_conflict(self, inst: WorkflowInstance, conflict: TokenConflict) -> None:
        """Turn a hook whose token is taken into a ``hook_conflict`` resolution."""
        cmds = inst.take_unwritten()
        inst.requeue_unwritten(cmds)
        for cmd in cmds:
            if cmd.kind == "hook" and cmd.name == conflict.token:
                event = NewEvent(
                    EventType.HOOK_CONFLICT,
                    cmd.cid,
                    serde.encode(
                        {"at": self.clock(), "token": conflict.token, "run_id": conflict.run_id}
                    ),
                    f"{cmd.cid}:c",
                )
                inst.requeue_unwritten([c for c in inst.take_unwritten() if c is not cmd])
                await self.world.append(inst.run_id, [event], enqueue=[wf_message(inst.run_id)])
                cmd.written = True
                self._feed(inst, await self.world.read_events(inst.run_id, after_seq=inst.last_seq))
                return

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

    # -- helpers for clients ---------------------------------------------------------------
    async def cancel_run(self, run_id: str) -> None:
        """Append ``run_cancelled`` (idempotent) and drop the cached instance."""
        try:
            await self.world.append(
                run_id, [NewEvent(EventType.RUN_CANCELLED, None, None, "run:end")]
            )
        except DuplicateEvent:
            pass
        async with self._lock(run_id):
            self._evict(run_id)


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC)


def _policy_from_env() -> RetryPolicy:
    base = os.environ.get("WDK_RETRY_BASE")
    return RetryPolicy(base=float(base)) if base else RetryPolicy()


def failed_payload(exc: BaseException) -> bytes:
    """A ``run_failed`` payload for an engine error."""
    return encode_run_error(exc, RUNTIME_ERROR)


_ = _Teardown
