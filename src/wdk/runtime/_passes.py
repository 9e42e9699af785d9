"""Run passes: bringing a run's instance up to date, running its code, writing what it did.

:class:`RunPasses` owns the workflow side of the worker. Instances stay in memory between
events (LRU), so an n-step run costs O(n); replay from the log is the fallback after a restart
or on another worker. One commit per step: when an inline step finishes and the run's instance
is cached and current, the completion is applied in memory first and "step k completed" is
appended together with whatever the code did next ("step k+1 created", or the run's end) in
one transaction, guarded by ``expect_seq``; a lost race drops the instance and records the
completion alone. A run this code cannot advance is parked (``_plan_block``). A run started on
this worker's event loop commits its first pass with ``run_created`` (``start_run``).

Activations run on the event loop, each within a *slice* of it (:data:`RunPasses.loop_slice_s`,
see ``wdk.sandbox._limits``): one that runs longer is unwound (``SliceExpired``), its instance
is dropped, and the run becomes *heavy*: from then on its activations run in a step thread
(``_feed_here``/``_apply_here``), where only the budget stops a spin, while the loop goes on
serving other runs. At a slice's end the pass records what it has (a resolution alone, a
start alone, with a wake-up); the next pass replays the run in a thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from wdk import serde
from wdk.errors import WorkflowError
from wdk.runtime import _local, _parking
from wdk.runtime._divergence import _Divergence
from wdk.runtime._instance import (
    Command,
    RunStart,
    WorkflowInstance,
)
from wdk.runtime._keys import RUN_STARTED_KEY, dedup_key, step_key, timer_message, wf_message
from wdk.runtime._replay import load_workflow
from wdk.runtime._runlock import RunLock
from wdk.runtime._steps import StepRunner, _StepJob
from wdk.worlds._flow import FlowStart
from wdk.worlds.base import (
    Appended,
    DuplicateEvent,
    Event,
    EventType,
    NewEvent,
    NewMessage,
    QueuedStart,
    TokenConflict,
)

__all__ = ["RunPasses"]

log = logging.getLogger("wdk.worker")

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


@dataclass
class _Plan:
    """One append that records a run's progress (see ``Worker._plan``)."""

    cmds: list[Command]
    events: list[NewEvent]
    enqueue: list[NewMessage]
    inline: list[Command]
    durable: bool = True


def _run_started(at: float) -> NewEvent:
    """The event that starts a run (its first pass), at workflow time ``at``."""
    return NewEvent(EventType.RUN_STARTED, None, serde.encode({"at": at}), RUN_STARTED_KEY)


class RunPasses(StepRunner):
    """The worker's workflow side (see the module docstring)."""

    #: Seconds an activation may hold the event loop before its run moves to a thread.
    loop_slice_s = 0.1
    _loop_thread: int | None
    _heavy_runs: set[str]

    # -- runs ------------------------------------------------------------------------------
    def _lock(self, run_id: str) -> RunLock:
        """The run's lock (made here, on the event loop; step threads only look it up)."""
        lock = self._run_locks.get(run_id)
        if lock is None:
            lock = self._run_locks.setdefault(run_id, RunLock())
        return lock

    def _evict(self, run_id: str) -> None:
        self._heavy_runs.discard(run_id)  # a later pass may try the loop again (one slice)
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
        return load_workflow(self.project, inst.workflow_id, self.sandbox_config, inst.limiter)

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
            if await self._feed_here(inst, events):
                return inst
            # It ran past its slice of the loop: replay it from the log, in a thread.
        events = await self.world.read_events(run_id)
        if not events or events[0].type != EventType.RUN_CREATED:
            return None
        if any(e.type in EventType.RUN_TERMINAL for e in events) or self._parked_here(events):
            return None
        inst = self._new_instance(run_id, RunStart.from_event(events[0]))
        inst.mark_replay(events)
        if not await self._feed_here(inst, events):  # the run is heavy now: in a thread
            inst = self._new_instance(run_id, RunStart.from_event(events[0]))
            inst.mark_replay(events)
            await self._feed_here(inst, events)
        self._remember(inst)
        return inst

    def _new_instance(self, run_id: str, start: RunStart) -> WorkflowInstance:
        inst = WorkflowInstance(
            run_id,
            start,
            load_workflow=self._load_workflow,
            log_sink=self.log_sink,
            base_url=self.base_url,
            is_user_module=lambda name: self.project.locate(name) is not None,
            locate=self.project.relative_location,
            budget_s=getattr(self.sandbox_config, "workflow_budget_s", 0.0),
        )
        inst.limiter.slice_s, inst.limiter.slice_thread = self.loop_slice_s, self._loop_thread
        return inst

    @staticmethod
    def _feed(inst: WorkflowInstance, events: list[Event]) -> None:
        try:
            inst.feed(events)
        except _Divergence as div:
            inst.fail_with(div)
            inst.last_seq = events[-1].seq if events else inst.last_seq

    async def _feed_here(self, inst: WorkflowInstance, events: list[Event]) -> bool:
        """``_feed`` on the loop, or in a thread for a heavy run; False: it became heavy."""
        return await self._activate(inst, functools.partial(self._feed, inst, events))

    async def _apply_here(self, inst: WorkflowInstance, event: NewEvent, at: float) -> bool:
        """``_apply`` on the loop, or in a thread for a heavy run; False: it became heavy."""
        return await self._activate(inst, functools.partial(self._apply, inst, event, at))

    async def _activate(self, inst: WorkflowInstance, call: Callable[[], None]) -> bool:
        if inst.run_id in self._heavy_runs:
            await self._threads.run(call)
            return True
        try:
            call()
        except BaseException as exc:
            from wdk.sandbox import SliceExpired  # not at import: clients import the runtime

            if not isinstance(exc, SliceExpired):
                raise
            # The instance stopped somewhere in the middle: drop it (see the module docstring).
            log.info("run %s: workflow code ran past its slice of the loop; it continues "
                     "in a thread", inst.run_id)  # fmt: skip
            self._heavy_runs.add(inst.run_id)
            self._cache.pop(inst.run_id, None)
            inst.close()
            return False
        return True

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
            applied = True
            if inst._main is None and inst.outcome is None and inst.blocked is None:
                at = self.clock()
                start = _run_started(at)
                applied = await self._apply_here(inst, start, at)
                pre.append(start)
            if applied:
                inline = await self._commit(inst, pre, ack=ack, speculative=bool(pre))
                if inline is not None:
                    return inline
            # The first pass lost its race (a token conflict or a concurrent write) or ran
            # past its slice of the loop: record the start alone; the next pass continues
            # from the log.
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
                if await self._apply_here(inst, event, at):
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
                if not await self._record_conflict(inst, conflict):
                    return None
                continue
            except DuplicateEvent:
                inst.requeue_unwritten(plan.cmds)
                if speculative:
                    self._evict(run_id)
                    return None
                # Someone appended meanwhile. The instance did not run ahead of the log, so
                # read what is new and try again.
                events = await self.world.read_events(run_id, after_seq=inst.last_seq)
                if not await self._feed_here(inst, events):
                    return None
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
        if any(e.type == EventType.RUN_STARTED for e in plan.events):
            log.info("run %s started: %s", run_id, inst.workflow_id)
        if inst.outcome is not None:
            if inst.outcome.status == "completed":
                log.info("run %s completed: %s", run_id, inst.workflow_id)
            else:
                error = serde.decode(inst.outcome.data) if inst.outcome.data else {}
                message = error.get("message", error) if isinstance(error, dict) else error
                log.warning("run %s failed: %s: %s", run_id, inst.workflow_id, message)
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
            events.append(
                NewEvent(
                    EventType.STEP_CREATED, cid, cmd.data, dedup_key(EventType.STEP_CREATED, cid)
                )
            )
            key = step_key(run_id, cid)
            if cmd.limit is not None:
                # Its limits are the world's to enforce at claim time: never run inline.
                enqueue.append(NewMessage(cmd.limit, run_id, key, cmd.data))
                self.limited_seen = True
            elif self._inline + len(inline) < self.inline_limit and not self._done():
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
            events.append(
                NewEvent(
                    EventType.WAIT_CREATED, cid, cmd.data, dedup_key(EventType.WAIT_CREATED, cid)
                )
            )
            enqueue.append(timer_message(run_id, cid, cmd.resume_at))
        elif cmd.kind == "hook":
            events.append(
                NewEvent(
                    EventType.HOOK_CREATED, cid, cmd.data, dedup_key(EventType.HOOK_CREATED, cid)
                )
            )
        elif cmd.kind == "dispose":
            events.append(
                NewEvent(
                    EventType.HOOK_DISPOSED, cid, None, dedup_key(EventType.HOOK_DISPOSED, cid)
                )
            )
        elif cmd.kind == "patch":
            events.append(NewEvent(EventType.PATCHED, None, cmd.data, cid))

    async def _record_conflict(self, inst: WorkflowInstance, conflict: TokenConflict) -> bool:
        """Turn a hook whose token is taken into a ``hook_conflict`` resolution.

        False when the instance ran past its slice of the loop (and was dropped).
        """
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
                    dedup_key(EventType.HOOK_CONFLICT, cmd.cid),
                )
                inst.requeue_unwritten([c for c in inst.take_unwritten() if c is not cmd])
                await self.world.append(inst.run_id, [event], enqueue=[wf_message(inst.run_id)])
                cmd.written = True
                events = await self.world.read_events(inst.run_id, after_seq=inst.last_seq)
                return await self._feed_here(inst, events)
        return True

    # -- runs started in this process (see wdk.runtime._local) -------------------------------
    async def start_run(self, run_id: str, created: NewEvent) -> bool:
        """Start a run here: its first pass runs now and commits with ``run_created``.

        One durable commit holds the run's creation, its start and what its code did first
        (say, its first step, leased to this worker and run at once): no workflow message, no
        claim, no separate first-pass commit. Returns False, writing nothing, when this
        worker cannot take the run (the caller is not on its event loop, it is stopping, or
        the first pass met a hook token held elsewhere); True once the run exists.
        """
        if not self._takes_starts_here():
            return False
        async with self._lock(run_id):
            first_pass = await self._first_pass(run_id, created)
            if first_pass is None:
                return False  # it ran past its slice: the normal path starts it (in a thread)
            inst, plan = first_pass
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

    def _takes_starts_here(self) -> bool:
        """Whether a start made here may run its first pass on this worker, at once."""
        if _local.taker_for(self.world) is not self or self._done():
            return False
        return asyncio.get_running_loop() is self._loop

    async def _first_pass(
        self, run_id: str, created: NewEvent
    ) -> tuple[WorkflowInstance, _Plan] | None:
        """A new run's first pass and the append that would record it.

        The pass applies run_started and runs the code up to its first durable call. None
        when the code ran past its slice of the loop (the run then goes on in a thread).
        """
        now = self.clock()
        inst = self._new_instance(
            run_id,
            RunStart.from_event(
                Event(run_id, 1, created.type, created.correlation_id, created.data, now)
            ),
        )
        started = _run_started(now)
        if not await self._apply_here(inst, started, now):
            return None
        plan = self._plan(inst, [created, started])
        assert plan is not None  # it holds the two events at least
        return inst, plan

    async def start_queued_run(
        self, run_id: str, created: NewEvent, flow: FlowStart
    ) -> QueuedStart | None:
        """A start on a queue beside this worker: if admitted at once, the run goes on here.

        The first pass runs before the world decides (it is deterministic and does no I/O)
        and is offered to ``start_queued``: admitted in the start's transaction, the run
        commits it there, as :meth:`start_run` does for an unqueued start; left waiting, the
        pass is dropped. None, writing nothing, when this worker cannot take part (as
        :meth:`start_run`).
        """
        if not self._takes_starts_here():
            return None
        async with self._lock(run_id):
            first_pass = await self._first_pass(run_id, created)
            if first_pass is None:
                return None  # it ran past its slice: the normal path starts it (in a thread)
            inst, plan = first_pass
            try:
                landed = await self.world.start_queued(
                    run_id, created, flow, first=plan.events[1:], enqueue=plan.enqueue
                )
            except TokenConflict:
                inst.close()
                return None  # the normal path records the conflict in the run
            except BaseException:
                inst.close()
                raise
            if landed.appended is None:
                inst.close()
                return landed
            self._remember(inst)
            jobs = self._written(inst, plan, landed.appended)
        first = self._launch(jobs)
        if first is not None:
            self._tg.start_soon(self._run_inline, first)
        return landed

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
