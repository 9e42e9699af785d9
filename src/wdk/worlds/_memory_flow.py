"""The memory world's flow control: the same rules as the SQL worlds, over its dicts.

A mixin of :class:`~wdk.worlds.memory.MemoryWorld`; every operation runs under the store's
lock with no ``await``, so it is atomic like every other memory-world call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgpack

from wdk.errors import QueueError
from wdk.worlds._flow import (
    ACTIVE_STATUSES,
    LIMIT_PREFIX,
    FlowStart,
    QueueSpec,
    parse_limit_kind,
    plan_admission,
    start_message,
)
from wdk.worlds.base import Appended, Message, NewEvent, NewMessage, QueuedStart

if TYPE_CHECKING:
    from wdk.worlds.memory import _Run, _Store

__all__ = ["MemoryFlow"]


class MemoryFlow:
    """Queue definitions, queued starts and admission for the memory world."""

    _clock: Callable[[], float]
    _check: Callable[[], _Store]
    _append: Callable[..., int]
    _enqueue: Callable[[_Store, Sequence[NewMessage], float, set[str]], tuple[int, ...]]

    async def register_queues(self, specs: Sequence[QueueSpec]) -> None:
        """Create or update queue definitions (the last writer's limits win)."""
        store = self._check()
        topics = {"admit"}
        with store.lock:
            for spec in specs:
                store.queue_specs[spec.name] = spec
        store.hub.notify(topics)

    async def get_queue(self, name: str) -> QueueSpec | None:
        """A registered queue, or None."""
        store = self._check()
        with store.lock:
            return store.queue_specs.get(name)

    async def list_queues(self) -> list[QueueSpec]:
        """Every registered queue, by name."""
        store = self._check()
        with store.lock:
            return [store.queue_specs[n] for n in sorted(store.queue_specs)]

    async def start_queued(
        self,
        run_id: str,
        created: NewEvent,
        flow: FlowStart,
        *,
        first: Sequence[NewEvent] = (),
        enqueue: Sequence[NewMessage] = (),
    ) -> QueuedStart:
        """Create a queued run and admit what fits, atomically (see ``World``)."""
        store = self._check()
        topics: set[str] = set()
        with store.lock:
            now = self._clock()
            target, held = self._start(store, now, topics, run_id, created, flow, bool(first))
            appended = None
            if held:  # admitted at once, with no start message: it goes on in this call
                seq = self._append(store, run_id, first, 1, now, topics)
                appended = Appended(seq, self._enqueue(store, enqueue, now, topics))
        store.hub.notify(topics)
        return QueuedStart(target, appended)

    def _start(
        self,
        store: _Store,
        now: float,
        topics: set[str],
        run_id: str,
        created: NewEvent,
        flow: FlowStart,
        hold: bool = False,
    ) -> tuple[str, bool]:
        """The run a start lands on, and whether it is new, held and admitted."""
        if flow.queue not in store.queue_specs:
            raise QueueError(
                f"unknown queue {flow.queue!r}: declare it with wdk.Queue({flow.queue!r}, ...)"
                " at module level in a workflow module, and import that module (or start its"
                " workflow) in this process or a worker first",
                queue=flow.queue,
            )
        if run_id in store.runs:
            return run_id, False
        mine = [r for r in store.runs.values() if r.queue == flow.queue]
        if flow.dedupe_key is not None:
            for run in mine:
                if run.dedupe_key == flow.dedupe_key and run.status in ("queued", *ACTIVE_STATUSES):
                    return run.run_id, False
        wait = max(flow.delay or 0.0, flow.debounce or 0.0)
        admit_at = now + wait if wait > 0 else None
        if flow.debounce is not None and flow.key is not None:
            waiting = [
                r
                for r in mine
                if r.queue_key == flow.key and r.status == "queued" and r.debounce is not None
            ]
            if waiting:
                run = min(waiting, key=lambda r: (r.created_at, r.run_id))
                first = store.events[run.run_id][0]
                store.events[run.run_id][0] = first.__class__(
                    first.run_id,
                    first.seq,
                    first.type,
                    first.correlation_id,
                    created.data,
                    first.created_at,
                )
                run.input = msgpack.unpackb(created.data or b"\x80", raw=False).get("input")
                run.admit_at = admit_at
                topics.add("admit")
                return run.run_id, False
        topics.add(f"run:{run_id}")
        self._append(store, run_id, [created], None, now, topics)
        run = store.runs[run_id]
        run.status, run.queue, run.queue_key = "queued", flow.queue, flow.key
        run.priority, run.dedupe_key, run.debounce = flow.priority, flow.dedupe_key, flow.debounce
        run.admit_at = admit_at
        self._admit_queue(store, now, topics, flow.queue, hold=run_id if hold else None)
        return run_id, hold and run.status == "pending"

    async def admit(self, queue: str | None = None) -> float | None:
        """Admit what the limits allow; when to look again (see ``World.admit``)."""
        store = self._check()
        topics: set[str] = set()
        due: float | None = None
        with store.lock:
            now = self._clock()
            names = [queue] if queue is not None else sorted(store.queue_specs)
            for name in names:
                at = self._admit_queue(store, now, topics, name)
                if at is not None:
                    due = at if due is None else min(due, at)
        store.hub.notify(topics)
        return due

    def _admit_queue(
        self, store: _Store, now: float, topics: set[str], name: str, hold: str | None = None
    ) -> float | None:
        spec = store.queue_specs.get(name)
        if spec is None:
            return None
        mine = [r for r in store.runs.values() if r.queue == name]
        waiting = [r for r in mine if r.status == "queued"]
        if not waiting:
            return None
        active = [r for r in mine if r.status in ACTIVE_STATUSES]
        by_key: dict[str | None, int] = {}
        for r in active:
            by_key[r.queue_key] = by_key.get(r.queue_key, 0) + 1
        window: list[float] = []
        if spec.rate_period is not None:
            window = sorted(
                r.admitted_at
                for r in mine
                if r.admitted_at is not None and r.admitted_at > now - spec.rate_period
            )

        def order(r: _Run) -> tuple[Any, ...]:
            return (-r.priority if spec.priority else 0, r.created_at, r.run_id)

        ready = sorted((r for r in waiting if (r.admit_at or 0.0) <= now), key=order)
        plan = plan_admission(
            spec,
            now,
            active=len(active),
            active_by_key=by_key,
            window=window,
            candidates=[(r.run_id, r.queue_key) for r in ready],
        )
        for run_id in plan.run_ids:
            run = store.runs[run_id]
            run.status, run.admitted_at = "pending", now
        starts = [start_message(r) for r in plan.run_ids if r != hold]
        if starts:
            self._enqueue(store, starts, now, topics)
        later = [r.admit_at for r in waiting if r.admit_at is not None and r.admit_at > now]
        due = min(later) if later else None
        if plan.due is not None and len(plan.run_ids) < len(waiting):
            due = plan.due if due is None else min(due, plan.due)
        return due

    async def claim_limited(self, *, worker_id: str, lease_s: float) -> tuple[Message | None, bool]:
        """Lease a step message with limits that its limits allow (see ``World``)."""
        store = self._check()
        with store.lock:
            now = self._clock()
            visible = [
                m
                for m in store.queue.values()
                if m.kind.startswith(LIMIT_PREFIX) and m.not_before <= now and m.lease_until <= now
            ]
            for kind in sorted({m.kind for m in visible}):
                spec = parse_limit_kind(kind)
                if spec.concurrency is not None:
                    held = sum(
                        1
                        for m in store.queue.values()
                        if m.kind == kind and m.owner is not None and m.lease_until > now
                    )
                    if held >= spec.concurrency:
                        continue
                if spec.rate_limit is not None and spec.rate_period is not None:
                    since = now - spec.rate_period
                    claims = store.step_claims.get(kind, [])
                    if sum(1 for t in claims if t > since) >= spec.rate_limit:
                        continue
                    old = now - max(spec.rate_period, 60.0)  # kept a minute at least
                    store.step_claims[kind] = [*(t for t in claims if t > old), now]
                msg = min(
                    (m for m in visible if m.kind == kind), key=lambda m: (m.not_before, m.id)
                )
                msg.owner, msg.lease_until, msg.dirty = worker_id, now + lease_s, None
                msg.deliveries += 1
                return msg.message(), False
            return None, bool(visible)
