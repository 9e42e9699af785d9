"""The worker: claims queue messages and advances runs.

Three message kinds:

* ``workflow`` (key ``wf:<run>``): bring the run's instance up to date with its log, run the
  code, write the commands it made (and its end, if it ended).
* ``step`` (key ``step:<run>:<cid>``): run one step attempt and record the outcome.
* ``timer`` (key ``timer:<run>:<cid>``): a sleep is due; record ``wait_completed``.

The worker is three layers of one class: this module (claiming messages, leases, heartbeats,
the loop, sweeping blocked runs), :mod:`wdk.runtime._passes` (run passes: replay, commits,
parking) and :mod:`wdk.runtime._steps` (step attempts and the step-thread chain).

Where the speed comes from:

* **Cache**: instances stay in memory between events (LRU), so an n-step run costs O(n), not
  the O(n^2) of replaying from the top on every event. Replay from the log is the fallback
  after a restart or on another worker, and gives the same result.
* **Inline steps**: steps the worker's own runs create are created already leased to it and
  run at once, with no queue round trip. The queue row stays the source of truth: if the
  worker dies, another worker releases its leases (at once from the same machine, after
  ``dead_after_s`` without a heartbeat from another: :mod:`wdk.runtime._liveness`) and runs
  the step.
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
import logging
import math
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from wdk import serde
from wdk.errors import RUNTIME_ERROR
from wdk.runtime import _local, _parking
from wdk.runtime._executor import (
    RetryPolicy,
)
from wdk.runtime._flow_start import register_declared
from wdk.runtime._instance import (
    WorkflowInstance,
    encode_run_error,
)
from wdk.runtime._keys import dedup_key
from wdk.runtime._liveness import Sweeper, this_worker
from wdk.runtime._loader import Project, default_project
from wdk.runtime._passes import RunPasses
from wdk.runtime._replay import project_sandbox_config
from wdk.runtime._runlock import RunLock
from wdk.runtime._steps import _Handoff, _StepJob
from wdk.runtime._threads import StepThreads
from wdk.runtime._ticker import Ticker
from wdk.worlds._flow import LIMIT_PREFIX
from wdk.worlds.base import (
    BlockingWrites,
    EventType,
    Message,
    NewEvent,
    WorkerInfo,
    World,
)

__all__ = ["Worker"]

log = logging.getLogger("wdk.worker")

KINDS = ("workflow", "step", "timer")
#: how often an idle worker looks again at step messages held back by their limits
LIMITED_POLL_S = 0.05
#: how often a worker that has seen no step with limits looks for one when idle
LIMITED_LOOK_S = 1.0


class Worker(RunPasses):
    """Runs queued workflow, step and timer work from one world.

    Args:
        world: where runs live.
        project: where user code lives (the process-wide default if None).
        concurrency: queue slots: messages claimed and handled at once.
        inline_limit: steps of this worker's own runs executed at once without a queue
            round trip (beyond it, new steps are queued for any worker).
        step_threads: threads for sync steps (async steps run on the event loop).
        lease_s: how long a claimed message is ours before another worker may take it;
            extended while work is in flight. The fallback when a dead worker is not noticed
            sooner (see ``heartbeat_s``).
        heartbeat_s: how often this worker tells the world it is alive, and looks for
            workers that are gone to release their messages (:mod:`~wdk.runtime._liveness`):
            at once for a process of this machine that is no longer running, after
            ``dead_after_s`` without a heartbeat for one elsewhere.
        dead_after_s: how long a worker on another machine may go without a heartbeat
            before its messages are given to others.
        retry_policy: backoff for steps that raise ordinary exceptions.
        cache_size: how many suspended runs to keep in memory.
        deployment_id: pin the worker to one deployment: it claims only runs (and their
            steps) of that deployment. None reads ``WDK_DEPLOYMENT_ID``; unset, it takes any.
        adopt: with a deployment, also take other deployments' runs and move them to it.
        blocked_sweep_s: how often to look for blocked runs that this code may advance.
        workflow_budget_s: seconds one activation of workflow code may run without reaching
            a durable call (None: the sandbox configuration's, ``[tool.wdk] workflow-budget``
            or ``WDK_WORKFLOW_BUDGET``, default 5; 0: no budget). See docs/sandbox.md.
        max_allocation: bytes the largest value one operation of workflow code may build
            (None: the sandbox configuration's, default 64 MiB).
        schedules: tick the schedules this process defined (``wdk.schedule``); off for a
            worker embedded in a one-off command such as ``wdk run``.
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
        workflow_budget_s: float | None = None,
        max_allocation: int | None = None,
        heartbeat_s: float = 1.0,
        dead_after_s: float = 3.0,
        schedules: bool = True,
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
        self.heartbeat_s = heartbeat_s
        self.sweeper = Sweeper(world, self.worker_id, dead_after_s=dead_after_s)
        self.retry_policy = retry_policy or _policy_from_env()
        self.cache_size = cache_size
        self.idle_poll_s = idle_poll_s
        self.log_sink = log_sink
        self.base_url = base_url
        self.sandbox_config = (sandbox_config or project_sandbox_config(self.project)).with_limits(
            workflow_budget_s=workflow_budget_s, max_allocation=max_allocation
        )
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
        self._registered: anyio.Event | None = None  # made on a loop (see _registration)
        self._tg: Any = None
        self._handoffs: MemoryObjectSendStream[_Handoff] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        #: runs whose activations run in a step thread (one ran past its slice of the loop)
        self._heavy_runs: set[str] = set()
        self.processed_steps = 0
        #: limited step messages exist (this worker made one, or found one): claim them first
        self.limited_seen = False
        #: limited step messages were visible but held back by their limits at the last look
        self._limited_waiting = False
        self._limited_looked = 0.0
        #: starts the runs of this process's schedules as they fall due (None: off)
        self.ticker = Ticker(world, self.clock) if schedules else None

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
        self._loop_thread = threading.get_ident()
        self._handoffs, handoffs = anyio.create_memory_object_stream[_Handoff](math.inf)
        me = this_worker(self.worker_id)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if handle_signals:
                    tg.start_soon(self._watch_signals, tg.cancel_scope)
                tg.start_soon(self._extend_leases)
                tg.start_soon(self._heartbeat, me)
                tg.start_soon(self._receive_handoffs, handoffs)
                tg.start_soon(self._retry_blocked)
                tg.start_soon(self._admit)
                if self.ticker is not None:
                    tg.start_soon(self.ticker.run, self._done)
                async with anyio.create_task_group() as handlers:
                    _local.register(self.world, self)
                    try:
                        await self._dispatch(handlers)
                    finally:
                        _local.unregister(self.world, self)
                await self._drain()
                tg.cancel_scope.cancel()
            await self._unregister()
        finally:
            self._threads.shutdown()
            self._handoffs.close()
            handoffs.close()

    async def registered(self) -> None:
        """Wait until :meth:`run` has registered this worker and released gone workers."""
        await self._registration().wait()

    def _registration(self) -> anyio.Event:
        if self._registered is None:
            self._registered = anyio.Event()
        return self._registered

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

    async def _admit(self) -> None:
        """Admit queued runs whose time came (a delay, a debounce, a rate window).

        A run's end admits the next runs of its queue in the transaction that ends it, and a
        start admits at once when there is room, so this loop only covers what a clock
        decides, definitions that change, and a world that admits outside those
        transactions. It also registers the queues of the modules this worker loaded.
        """
        while not self._done():
            timeout = self.idle_poll_s
            try:
                await register_declared(self.world)
                due = await self.world.admit()
                if due is not None:
                    timeout = max(0.0, min(timeout, due - self.clock()))
            except Exception:
                log.exception("worker %s: admitting queued runs failed", self.worker_id)
            if timeout > 0:
                with anyio.CancelScope() as scope:
                    self._idle_scopes.add(scope)
                    try:
                        await self.world.wait_for_change(["admit"], timeout)
                    finally:
                        self._idle_scopes.discard(scope)

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
        # Registered, and the gone workers' messages released, before the first claim: a
        # worker restarted after a crash takes its predecessor's work over at once.
        await self._registration().wait()
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
        if self.limited_seen:
            msg = await self._claim_limited()
            if msg is not None:
                return msg
        if self._claims_for is None:  # the hot path: no filter argument at all
            msg = await self.world.claim(KINDS, worker_id=self.worker_id, lease_s=self.lease_s)
        else:
            msg = await self.world.claim(
                KINDS,
                worker_id=self.worker_id,
                lease_s=self.lease_s,
                deployment_id=self._claims_for,
            )
        if msg is None and not self.limited_seen:
            # Idle: look for other workers' steps with limits too, once a second at most.
            now = self.clock()
            if now - self._limited_looked >= LIMITED_LOOK_S:
                self._limited_looked = now
                msg = await self._claim_limited()
        return msg

    async def _claim_limited(self) -> Message | None:
        """A step message with limits (``step.concurrency``, ``step.rate``) its limits allow.

        Steps with limits are never run inline: the world counts their leases and claims.
        A pinned worker leaves them to the others (they carry no deployment filter).
        """
        if self._claims_for is not None:
            return None
        msg, self._limited_waiting = await self.world.claim_limited(
            worker_id=self.worker_id, lease_s=self.lease_s
        )
        if msg is not None or self._limited_waiting:
            self.limited_seen = True
        return msg

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
        if self._limited_waiting:
            # A limit frees with no notification (a lease lapsing, a rate window moving):
            # look again soon.
            timeout = min(timeout, LIMITED_POLL_S)
        if timeout > 0:
            with anyio.CancelScope() as scope:
                self._idle_scopes.add(scope)
                try:
                    await self.world.wait_for_change(["queue"], timeout)
                finally:
                    self._idle_scopes.discard(scope)

    async def _extend_leases(self) -> None:
        while True:
            await anyio.sleep(self.lease_s / 3)
            for message_id in list(self._held):
                try:
                    if not await self.world.extend_lease(message_id, lease_s=self.lease_s):
                        log.info("worker %s: message %s was taken back", self.worker_id, message_id)
                except Exception:
                    log.exception("lease extension failed")

    async def _unregister(self) -> None:
        """Gone for good: nothing is in flight, so anything still leased is given back."""
        try:
            await self.world.release_worker(self.worker_id, last_seen=math.inf)
        except Exception:
            log.exception("worker %s: unregistering failed", self.worker_id)

    async def _heartbeat(self, me: WorkerInfo) -> None:
        """At once, then every ``heartbeat_s``: say this worker is alive, release gone ones."""
        await self._alive(me)
        self._registration().set()
        while True:
            await anyio.sleep(self.heartbeat_s)
            await self._alive(me)

    async def _alive(self, me: WorkerInfo) -> None:
        try:
            await self.world.heartbeat(me)
            await self.sweeper.sweep()
        except Exception:
            log.exception("worker %s: heartbeat failed", self.worker_id)

    async def _handle(self, msg: Message) -> list[_StepJob]:
        """Handle one claimed message; returns the inline steps it led to (to run next)."""
        if msg.kind == "workflow":
            return await self._process_run(msg.run_id, ack=[msg.id])
        if msg.kind == "step" or msg.kind.startswith(LIMIT_PREFIX):
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
            event = NewEvent(
                EventType.WAIT_COMPLETED,
                cid,
                serde.encode({"at": at}),
                dedup_key(EventType.WAIT_COMPLETED, cid),
            )
            return await self._resolve(msg.run_id, event, at, ack=[msg.id])
        log.warning("unknown message kind %r; dropping", msg.kind)
        await self.world.ack([msg.id])
        return []


def _policy_from_env() -> RetryPolicy:
    base = os.environ.get("WDK_RETRY_BASE")
    return RetryPolicy(base=float(base)) if base else RetryPolicy()


def failed_payload(exc: BaseException) -> bytes:
    """A ``run_failed`` payload for an engine error."""
    return encode_run_error(exc, RUNTIME_ERROR)
