"""MemoryWorld: the World protocol in process memory, for tests and throwaway runs.

Same semantics as the durable worlds (the conformance suite checks all of them alike), none of
the durability. Every method body runs without an ``await`` under one lock, so each call is
atomic with respect to other tasks and threads. An append validates everything that can fail
(``expect_seq``, dedup keys, hook tokens) before it changes anything, so a refused append
leaves no trace.

``memory://name`` worlds share one store per process and name; ``memory://`` is private.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wdk.errors import WorldError
from wdk.worlds._cursor import decode_cursor, encode_cursor
from wdk.worlds._flow import QueueSpec
from wdk.worlds._memory_flow import MemoryFlow
from wdk.worlds._memory_schedules import MemorySchedules
from wdk.worlds._notify import ChangeHub
from wdk.worlds._payloads import adopted_deployment, hook_spec, run_spec
from wdk.worlds.base import (
    Appended,
    Chunk,
    DuplicateEvent,
    Event,
    EventType,
    HookInfo,
    Message,
    NewEvent,
    NewMessage,
    Page,
    RunInfo,
    RunStatus,
    ScheduleInfo,
    StreamInfo,
    TokenConflict,
    WorkerInfo,
)

__all__ = ["MemoryWorld"]

_TERMINAL_STATUS = {
    EventType.RUN_COMPLETED: RunStatus.COMPLETED,
    EventType.RUN_FAILED: RunStatus.FAILED,
    EventType.RUN_CANCELLED: RunStatus.CANCELLED,
}


@dataclass(slots=True)
class _Run:
    run_id: str
    workflow_id: str
    status: str
    created_at: float
    input: bytes | None
    started_at: float | None = None
    completed_at: float | None = None
    output: bytes | None = None
    error: bytes | None = None
    deployment_id: str | None = None
    forked_from: str | None = None
    queue: str | None = None
    queue_key: str | None = None
    priority: int = 0
    dedupe_key: str | None = None
    debounce: float | None = None
    admit_at: float | None = None
    admitted_at: float | None = None

    def info(self) -> RunInfo:
        return RunInfo(
            self.run_id,
            self.workflow_id,
            self.status,
            self.created_at,
            self.started_at,
            self.completed_at,
            self.input,
            self.output,
            self.error,
            self.deployment_id,
            self.forked_from,
            self.queue,
            self.queue_key,
            self.priority,
        )


@dataclass(slots=True)
class _Msg:
    id: int
    kind: str
    run_id: str
    key: str
    payload: bytes | None
    not_before: float
    lease_until: float = 0.0
    owner: str | None = None
    deliveries: int = 0
    dirty: float | None = None  # earliest not_before asked for while leased

    def message(self) -> Message:
        return Message(
            self.id,
            self.kind,
            self.run_id,
            self.key,
            self.payload,
            self.not_before,
            self.deliveries,
            self.lease_until,
            self.owner,
        )


@dataclass(slots=True)
class _Stream:
    chunks: list[Chunk] = field(default_factory=list)
    closed: bool = False


class _Store:
    """Everything one memory world holds; shared by the instances opened on one name."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.hub = ChangeHub()
        self.events: dict[str, list[Event]] = {}
        self.dedup: dict[str, set[str]] = {}
        self.runs: dict[str, _Run] = {}
        self.hooks: dict[str, HookInfo] = {}  # token -> live hook, in creation order
        self.run_hooks: dict[str, dict[str, str]] = {}  # run -> correlation id -> token
        self.queue: dict[int, _Msg] = {}
        self.keys: dict[str, int] = {}
        self.next_id = 1
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.queue_specs: dict[str, QueueSpec] = {}
        self.step_claims: dict[str, list[float]] = {}  # limited kind -> recent claim times
        self.workers: dict[str, WorkerInfo] = {}
        self.schedules: dict[str, ScheduleInfo] = {}


_NAMED: dict[str, _Store] = {}
_NAMED_LOCK = threading.Lock()


def _named_store(name: str) -> _Store:
    with _NAMED_LOCK:
        store = _NAMED.get(name)
        if store is None:
            store = _NAMED[name] = _Store()
        return store


def _on_deployment(store: _Store, run_id: str, deployment_id: str) -> bool:
    """Whether the run is on that deployment (a run on none, or unknown, is on no deployment)."""
    run = store.runs.get(run_id)
    return run is not None and run.deployment_id == deployment_id


class _HookPlan:
    """Hook changes an append will make, checked against the live hooks before any write."""

    def __init__(self, store: _Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.created: dict[str, HookInfo] = {}
        self.removed: set[str] = set()

    def _live(self, token: str) -> HookInfo | None:
        if token in self.created:
            return self.created[token]
        if token in self.removed:
            return None
        return self.store.hooks.get(token)

    def _token_of(self, correlation_id: str) -> str | None:
        for token, hook in self.created.items():
            if hook.correlation_id == correlation_id:
                return token
        found = self.store.run_hooks.get(self.run_id, {}).get(correlation_id)
        return None if found is None or found in self.removed else found

    def create(self, correlation_id: str, data: bytes | None, now: float) -> None:
        spec = hook_spec(data)
        token = spec.token
        holder = self._live(token)
        if holder is not None:
            if holder.run_id == self.run_id and holder.correlation_id == correlation_id:
                return  # the same hook registered again: nothing to do
            raise TokenConflict(token, holder.run_id)
        self.dispose(correlation_id)
        self.created[token] = HookInfo(
            self.run_id,
            correlation_id,
            token,
            spec.metadata,
            spec.kind,
            now,
        )

    def dispose(self, correlation_id: str) -> None:
        token = self._token_of(correlation_id)
        if token is None:
            return
        if self.created.pop(token, None) is None:
            self.removed.add(token)

    def dispose_all(self) -> None:
        self.created.clear()
        self.removed.update(self.store.run_hooks.get(self.run_id, {}).values())

    def apply(self) -> None:
        store = self.store
        by_cid = store.run_hooks.setdefault(self.run_id, {})
        for token in self.removed:
            hook = store.hooks.pop(token)
            by_cid.pop(hook.correlation_id, None)
        for token, hook in self.created.items():
            store.hooks[token] = hook
            by_cid[hook.correlation_id] = token
        if not by_cid:
            del store.run_hooks[self.run_id]


class MemoryWorld(MemoryFlow, MemorySchedules):
    """The World protocol in memory. ``clock`` supplies every timestamp (tests inject one).

    Decisions shared with :class:`~wdk.worlds.sqlite.SqliteWorld` (the conformance suite pins
    them): an append applies its events, then its acks, then its enqueues, so a terminal event
    deletes the run's *existing* messages (acks of them become no-ops) while messages enqueued
    by the same append survive. Enqueuing a key whose live message is pending moves its
    ``not_before`` earlier if asked and, with ``lease_to``, leases it to that worker; if it is
    leased (claimed and not yet acked or released, even with an expired lease) it is marked
    dirty, remembering the earliest ``not_before`` asked for. A claim clears the dirty mark;
    an ack of a dirty message re-shows it at that ``not_before`` with ``deliveries`` reset to 0.
    Run status only moves forward: no run event changes a terminal run (not even
    ``run_adopted``: the view keeps the deployment the run ended on), ``run_started`` does not
    move a blocked run (only ``run_unblocked``, a retry, does), and a second ``run_created``
    for an existing run leaves the view alone.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = f"memory://{name or ''}"
        self._store = _named_store(name) if name else _Store()
        self._clock = clock
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryWorld({self.url!r})"

    async def setup(self) -> None:
        """Nothing to create; checks the world is open."""
        self._check()

    async def close(self) -> None:
        """Mark this instance closed (a named store stays for other instances)."""
        self._closed = True

    def _check(self) -> _Store:
        if self._closed:
            raise WorldError(f"{self.url} is closed")
        return self._store

    # -- event log -------------------------------------------------------------------
    async def append(
        self,
        run_id: str,
        events: Sequence[NewEvent],
        *,
        enqueue: Sequence[NewMessage] = (),
        ack: Sequence[int] = (),
        expect_seq: int | None = None,
        durable: bool = True,
    ) -> Appended:
        """Append events, then ack, then enqueue, atomically (see the class docstring).

        ``durable`` means nothing here: memory is never durable.
        """
        store = self._check()
        with store.lock:
            now = self._clock()
            topics = {f"run:{run_id}"}
            seq = self._append(store, run_id, events, expect_seq, now, topics)
            self._ack(store, ack, topics)
            ids = self._enqueue(store, enqueue, now, topics)
        store.hub.notify(topics)
        return Appended(seq, ids)

    def _append(
        self,
        store: _Store,
        run_id: str,
        events: Sequence[NewEvent],
        expect_seq: int | None,
        now: float,
        topics: set[str],
    ) -> int:
        log = store.events.get(run_id)
        last = len(log) if log else 0
        if expect_seq is not None and last != expect_seq:
            raise DuplicateEvent(run_id, "seq")
        if any(ev.type in EventType.RUN_TERMINAL for ev in events):
            topics.add(f"done:{run_id}")
        # Validate first: nothing below may fail once the store is touched.
        used = store.dedup.get(run_id, set())
        fresh: set[str] = set()
        hooks = _HookPlan(store, run_id)
        terminal = False
        new_run: _Run | None = None
        for ev in events:
            key = ev.dedup_key
            if key is not None:
                if key in used or key in fresh:
                    raise DuplicateEvent(run_id, key)
                fresh.add(key)
            if ev.type == EventType.HOOK_CREATED:
                hooks.create(ev.correlation_id or "", ev.data, now)
            elif ev.type == EventType.HOOK_DISPOSED:
                hooks.dispose(ev.correlation_id or "")
            elif ev.type in EventType.RUN_TERMINAL:
                hooks.dispose_all()
                terminal = True
            elif ev.type == EventType.RUN_CREATED and new_run is None:
                spec = run_spec(ev.data)
                new_run = _Run(
                    run_id,
                    spec.workflow_id,
                    RunStatus.PENDING,
                    now,
                    spec.input,
                    deployment_id=spec.deployment_id,
                    forked_from=spec.forked_from,
                )
            elif ev.type == EventType.RUN_ADOPTED:
                adopted_deployment(ev.data)  # a malformed payload fails here, before any write
        if log is None:
            log = store.events[run_id] = []
        for ev in events:
            last += 1
            log.append(Event(run_id, last, ev.type, ev.correlation_id, ev.data, now))
            if new_run is not None and ev.type == EventType.RUN_CREATED:
                store.runs.setdefault(run_id, new_run)
            self._update_run(store.runs.get(run_id), ev, now)
        if fresh:
            store.dedup.setdefault(run_id, set()).update(fresh)
        hooks.apply()
        if terminal:
            self._end_run(store, run_id, topics)
            queue = store.runs[run_id].queue if run_id in store.runs else None
            if queue is not None:
                # Its slot is free: the next runs of its queue start in this same call.
                self._admit_queue(store, now, topics, queue)
        return last

    @staticmethod
    def _update_run(run: _Run | None, ev: NewEvent, now: float) -> None:
        """Apply one event to the runs view (the rules are in the class docstring)."""
        if run is None or run.status in RunStatus.TERMINAL:
            return
        if ev.type == EventType.RUN_STARTED:
            if run.status != RunStatus.BLOCKED:
                run.status = RunStatus.RUNNING
                if run.started_at is None:
                    run.started_at = now
        elif ev.type == EventType.RUN_BLOCKED:
            run.status, run.error = RunStatus.BLOCKED, ev.data
        elif ev.type == EventType.RUN_UNBLOCKED:
            run.status, run.error = RunStatus.RUNNING, None
        elif ev.type == EventType.RUN_ADOPTED:
            run.deployment_id = adopted_deployment(ev.data)
        elif ev.type in _TERMINAL_STATUS:
            run.status = _TERMINAL_STATUS[ev.type]
            run.completed_at = now
            # Both set: a run that ends while blocked drops its block, as SQL worlds do.
            run.output = ev.data if ev.type == EventType.RUN_COMPLETED else None
            run.error = ev.data if ev.type == EventType.RUN_FAILED else None

    @staticmethod
    def _end_run(store: _Store, run_id: str, topics: set[str]) -> None:
        for (rid, ns), stream in store.streams.items():
            if rid == run_id and not stream.closed:
                stream.closed = True
                topics.add(f"stream:{rid}:{ns}")
        for msg in [m for m in store.queue.values() if m.run_id == run_id]:
            del store.queue[msg.id]
            del store.keys[msg.key]

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """Events of a run with ``seq > after_seq``, in seq order."""
        store = self._check()
        with store.lock:
            return store.events.get(run_id, [])[max(after_seq, 0) :]

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run view, or None when no run has the id."""
        store = self._check()
        with store.lock:
            run = store.runs.get(run_id)
            return None if run is None else run.info()

    async def list_runs(
        self,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
        id_prefix: str | None = None,
        deployment_id: str | None = None,
    ) -> Page:
        """Runs newest first (``created_at`` then id, both descending), cursor-paged.

        ``id_prefix`` keeps the ids starting with it, ``deployment_id`` the runs on it.
        """
        store = self._check()
        after = decode_cursor(cursor) if cursor else None
        with store.lock:
            runs = [
                r
                for r in store.runs.values()
                if (workflow_id is None or r.workflow_id == workflow_id)
                and (status is None or r.status == status)
                and (id_prefix is None or r.run_id.startswith(id_prefix))
                and (deployment_id is None or r.deployment_id == deployment_id)
                and (after is None or (r.created_at, r.run_id) < after)
            ]
        runs.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        page = runs[: max(limit, 0)]
        more = len(runs) > len(page) and page
        next_cursor = encode_cursor(page[-1].created_at, page[-1].run_id) if more else None
        return Page([r.info() for r in page], next_cursor)

    # -- hooks -----------------------------------------------------------------------
    async def get_hook_by_token(self, token: str) -> HookInfo | None:
        """The live hook holding ``token``, or None."""
        store = self._check()
        with store.lock:
            return store.hooks.get(token)

    async def list_hooks(self, run_id: str | None = None) -> list[HookInfo]:
        """Live hooks, optionally of one run, oldest first."""
        store = self._check()
        with store.lock:
            hooks = [h for h in store.hooks.values() if run_id is None or h.run_id == run_id]
        hooks.sort(key=lambda h: h.created_at)  # stable: creation order breaks ties
        return hooks

    async def deliver_hook(
        self, token: str, events: Sequence[NewEvent], *, enqueue: Sequence[NewMessage] = ()
    ) -> HookInfo | None:
        """Atomically find the live hook for ``token`` and append ``events`` to its run."""
        store = self._check()
        with store.lock:
            hook = store.hooks.get(token)
            if hook is None:
                return None
            now = self._clock()
            topics = {f"run:{hook.run_id}"}
            self._append(store, hook.run_id, events, None, now, topics)
            self._enqueue(store, enqueue, now, topics)
        store.hub.notify(topics)
        return hook

    # -- queue -----------------------------------------------------------------------
    def _enqueue(
        self, store: _Store, messages: Sequence[NewMessage], now: float, topics: set[str]
    ) -> tuple[int, ...]:
        ids: list[int] = []
        for m in messages:
            not_before = m.not_before or now
            existing = store.keys.get(m.key)
            if existing is None:
                msg = _Msg(store.next_id, m.kind, m.run_id, m.key, m.payload, not_before)
                store.next_id += 1
                if m.lease_to is not None:
                    msg.owner, msg.lease_until, msg.deliveries = m.lease_to, now + m.lease_s, 1
                store.queue[msg.id] = msg
                store.keys[m.key] = msg.id
            else:
                msg = store.queue[existing]
                if msg.owner is not None:
                    msg.dirty = not_before if msg.dirty is None else min(msg.dirty, not_before)
                else:
                    msg.not_before = min(msg.not_before, not_before)
                    if m.lease_to is not None:
                        msg.owner, msg.lease_until = m.lease_to, now + m.lease_s
                        msg.deliveries += 1
            ids.append(msg.id)
            if m.lease_to is None:  # a message leased to its creator wakes nobody
                topics.add("queue")
        return tuple(ids)

    @staticmethod
    def _ack(store: _Store, message_ids: Sequence[int], topics: set[str]) -> None:
        for message_id in message_ids:
            msg = store.queue.get(message_id)
            if msg is None:
                continue
            if msg.dirty is not None:
                msg.not_before, msg.dirty = msg.dirty, None
                msg.owner, msg.lease_until, msg.deliveries = None, 0.0, 0
                topics.add("queue")
            else:
                del store.queue[message_id]
                del store.keys[msg.key]

    async def enqueue(self, messages: Sequence[NewMessage]) -> None:
        """Enqueue outside an append (same idempotency rules)."""
        store = self._check()
        topics: set[str] = set()
        with store.lock:
            self._enqueue(store, messages, self._clock(), topics)
        store.hub.notify(topics)

    @staticmethod
    def _unleased(
        store: _Store, kinds: Sequence[str], now: float, deployment_id: str | None
    ) -> list[_Msg]:
        """Messages of ``kinds`` not under a current lease (of runs on ``deployment_id``)."""
        unleased = [m for m in store.queue.values() if m.kind in kinds and m.lease_until <= now]
        if deployment_id is None:
            return unleased
        return [m for m in unleased if _on_deployment(store, m.run_id, deployment_id)]

    async def claim(
        self,
        kinds: Sequence[str],
        *,
        worker_id: str,
        lease_s: float,
        deployment_id: str | None = None,
    ) -> Message | None:
        """Lease the visible message with the earliest ``not_before`` (then lowest id).

        With ``deployment_id``, only messages of runs on that deployment.
        """
        store = self._check()
        with store.lock:
            now = self._clock()
            unleased = self._unleased(store, kinds, now, deployment_id)
            visible = [m for m in unleased if m.not_before <= now]
            if not visible:
                return None
            msg = min(visible, key=lambda m: (m.not_before, m.id))
            msg.owner, msg.lease_until, msg.dirty = worker_id, now + lease_s, None
            msg.deliveries += 1
            return msg.message()

    async def ack(self, message_ids: Sequence[int]) -> None:
        """Delete these messages, or re-show the dirty ones. Unknown ids are ignored."""
        store = self._check()
        topics: set[str] = set()
        with store.lock:
            self._ack(store, message_ids, topics)
        store.hub.notify(topics)

    async def release(self, message_id: int, *, not_before: float) -> None:
        """Unlease; visible again at ``not_before`` (earlier if it was dirty earlier)."""
        store = self._check()
        with store.lock:
            msg = store.queue.get(message_id)
            if msg is None:
                return
            if msg.dirty is not None:
                not_before = min(not_before, msg.dirty)
            msg.not_before, msg.dirty, msg.owner, msg.lease_until = not_before, None, None, 0.0
        store.hub.notify(("queue",))

    async def extend_lease(self, message_id: int, *, lease_s: float) -> bool:
        """Push the lease out; False if the message is gone or not leased."""
        store = self._check()
        with store.lock:
            msg = store.queue.get(message_id)
            if msg is None or msg.owner is None:
                return False
            msg.lease_until = self._clock() + lease_s
            return True

    async def get_message(self, key: str) -> Message | None:
        """The live message with idempotency key ``key``, or None."""
        store = self._check()
        with store.lock:
            message_id = store.keys.get(key)
            return None if message_id is None else store.queue[message_id].message()

    async def next_due(
        self, kinds: Sequence[str], *, deployment_id: str | None = None
    ) -> float | None:
        """Earliest ``not_before`` among messages not under a current lease.

        With ``deployment_id``, only messages of runs on that deployment.
        """
        store = self._check()
        with store.lock:
            due = [m.not_before for m in self._unleased(store, kinds, self._clock(), deployment_id)]
        return min(due) if due else None

    async def list_leases(self) -> list[Message]:
        """Messages under a current lease, oldest (lowest id) first."""
        store = self._check()
        with store.lock:
            now = self._clock()
            return [
                m.message()
                for m in sorted(store.queue.values(), key=lambda m: m.id)
                if m.owner is not None and m.lease_until > now
            ]

    # -- workers ---------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Register ``worker`` or refresh its ``last_seen``."""
        store = self._check()
        with store.lock:
            now = self._clock()
            known = store.workers.get(worker.worker_id)
            started = known.started_at if known is not None else now
            store.workers[worker.worker_id] = dataclasses.replace(
                worker, started_at=started, last_seen=now
            )

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, ordered by ``worker_id``."""
        store = self._check()
        with store.lock:
            return [store.workers[w] for w in sorted(store.workers)]

    async def release_worker(self, worker_id: str, *, last_seen: float) -> int | None:
        """Forget a gone worker and give back its messages under new ids (see World)."""
        store = self._check()
        with store.lock:
            known = store.workers.get(worker_id)
            if known is None or known.last_seen > last_seen:
                return None
            del store.workers[worker_id]
            held = [m for m in store.queue.values() if m.owner == worker_id]
            for msg in held:
                del store.queue[msg.id]
                msg.id, store.next_id = store.next_id, store.next_id + 1
                store.queue[msg.id] = msg
                store.keys[msg.key] = msg.id
                if msg.dirty is not None:
                    msg.not_before = min(msg.not_before, msg.dirty)
                msg.dirty, msg.owner, msg.lease_until = None, None, 0.0
        if held:
            store.hub.notify(("queue",))
        return len(held)

    # -- streams ---------------------------------------------------------------------
    async def write_chunk(self, run_id: str, namespace: str, data: bytes) -> int:
        """Append a chunk; returns its index. Raises WorldError if the stream is closed."""
        store = self._check()
        with store.lock:
            stream = store.streams.get((run_id, namespace))
            if stream is None:
                stream = store.streams[(run_id, namespace)] = _Stream()
            if stream.closed:
                raise WorldError(f"stream {namespace!r} of run {run_id} is closed")
            index = len(stream.chunks)
            stream.chunks.append(Chunk(index, data, self._clock()))
        store.hub.notify((f"stream:{run_id}:{namespace}",))
        return index

    async def close_stream(self, run_id: str, namespace: str) -> None:
        """Mark the stream closed (idempotent). An unknown stream is created closed."""
        store = self._check()
        with store.lock:
            stream = store.streams.get((run_id, namespace))
            if stream is None:
                stream = store.streams[(run_id, namespace)] = _Stream()
            stream.closed = True
        store.hub.notify((f"stream:{run_id}:{namespace}",))

    async def read_chunks(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> list[Chunk]:
        """Chunks with ``index >= start``, in order, at most ``limit``."""
        store = self._check()
        with store.lock:
            stream = store.streams.get((run_id, namespace))
            if stream is None:
                return []
            start = max(start, 0)
            return stream.chunks[start : start + max(limit, 0)]

    async def stream_info(self, run_id: str, namespace: str) -> StreamInfo:
        """Tail index and closed flag; ``StreamInfo()`` for an unknown stream."""
        store = self._check()
        with store.lock:
            stream = store.streams.get((run_id, namespace))
            if stream is None:
                return StreamInfo()
            return StreamInfo(len(stream.chunks) - 1, stream.closed)

    async def list_streams(self, run_id: str) -> list[str]:
        """Namespaces with a stream in this run, sorted."""
        store = self._check()
        with store.lock:
            return sorted(ns for rid, ns in store.streams if rid == run_id)

    # -- change notification ---------------------------------------------------------
    async def wait_for_change(self, topics: Sequence[str], timeout: float) -> bool:
        """Sleep until a commit touches one of ``topics`` or ``timeout`` seconds pass."""
        hub = self._check().hub
        waiter = hub.register(topics)
        try:
            return await waiter.wait(timeout)
        finally:
            hub.unregister(waiter)
