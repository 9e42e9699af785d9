"""The World protocol: everything durable wdk keeps, behind one async interface.

A world stores three things:

* the **event log**: an append-only list of events per run. Runs, steps, hooks and waits are
  views over it. Every append is one transaction that may also enqueue and acknowledge queue
  messages, so "step k completed" and "step k+1 created" commit together or not at all.
* a **durable queue** of work: workflow wake-ups, step executions and timers, with delayed
  delivery (``not_before``), leases (an expired lease makes a message claimable again) and
  idempotency keys (at most one live message per key).
* **streams**: chunks of bytes indexed from 0 per ``(run_id, namespace)``.

Exactly-once recording rests on ``dedup_key``: the store refuses a second event with the same
``(run_id, dedup_key)``, so two workers racing to record the same step completion cannot both
succeed; the loser gets :class:`DuplicateEvent` and the whole append is rolled back.

One conformance suite (``tests/worlds/conformance.py``) holds every implementation to this
contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from wdk.worlds._flow import FlowStart, QueueSpec

__all__ = [
    "Appended",
    "BlockingWrites",
    "Chunk",
    "DuplicateEvent",
    "Event",
    "EventType",
    "HookInfo",
    "Message",
    "NewEvent",
    "NewMessage",
    "QueuedStart",
    "RunInfo",
    "RunStatus",
    "ScheduleInfo",
    "StreamInfo",
    "TokenConflict",
    "World",
    "WorkerInfo",
]


class EventType:
    """Event type names. The log is append-only; these are its vocabulary."""

    RUN_CREATED = "run_created"  # data: {"workflow_id", "input": bytes, "parent"...}
    RUN_STARTED = "run_started"
    RUN_COMPLETED = "run_completed"  # data: encoded return value
    RUN_FAILED = "run_failed"  # data: encoded error dict
    RUN_CANCELLED = "run_cancelled"
    STEP_CREATED = "step_created"  # correlation_id = call id; data: step id + encoded args
    STEP_STARTED = "step_started"  # data: {"attempt": n}
    STEP_COMPLETED = "step_completed"  # data: encoded result
    STEP_FAILED = "step_failed"  # data: encoded error
    STEP_RETRYING = "step_retrying"  # data: encoded error + retry time
    WAIT_CREATED = "wait_created"  # data: {"resume_at": float}
    WAIT_COMPLETED = "wait_completed"
    HOOK_CREATED = "hook_created"  # data: token, metadata, kind
    HOOK_RECEIVED = "hook_received"  # data: encoded payload
    HOOK_DISPOSED = "hook_disposed"
    HOOK_CONFLICT = "hook_conflict"  # the token was held by another run
    #: The run's code no longer matches its log, or is missing on the worker that tried it.
    #: data: serde-encoded block dict (message, code, event, location, modules...). Not
    #: terminal: the log, hooks, streams and queue messages stay; the run waits for a retry.
    RUN_BLOCKED = "run_blocked"
    RUN_UNBLOCKED = "run_unblocked"  # a retry: status back to running; data: serde {"at", "by"}
    #: ``patched(name)`` answered True at the frontier; data: msgpack {"name", "pos"};
    #: dedup_key ``patch:<name>``.
    PATCHED = "patched"
    #: A worker with ``--adopt`` moved the run to its deployment; data: msgpack
    #: {"deployment_id"}.
    RUN_ADOPTED = "run_adopted"

    RUN_TERMINAL = frozenset({RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED})


class RunStatus:
    """Run status names as the API reports them."""

    PENDING = "pending"
    #: waiting on a flow-control queue for a slot, a rate token, its delay or its debounce
    QUEUED = "queued"
    RUNNING = "running"
    #: its code diverged from its log, or is missing on the worker that tried it
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
    #: every status a run can have, in lifecycle order (what ``--status`` accepts)
    ALL = (QUEUED, PENDING, RUNNING, BLOCKED, COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``dedup_key`` (if set) must be unique within the run."""

    type: str
    correlation_id: str | None = None
    data: bytes | None = None
    dedup_key: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event. ``seq`` is 1-based and dense per run; ``created_at`` is epoch seconds."""

    run_id: str
    seq: int
    type: str
    correlation_id: str | None
    data: bytes | None
    created_at: float


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A queue message to enqueue.

    ``key`` is an idempotency key: while a message with the same key is live (pending or
    leased), enqueuing another one does not add a row; if the live one is leased it is marked
    *dirty* instead, so that acknowledging it makes it visible once more rather than deleting
    it. That is how "wake this run again after you are done" works without two workers ever
    processing one run at once.
    """

    kind: str  # "workflow" | "step" | "timer"
    run_id: str
    key: str
    payload: bytes | None = None
    not_before: float = 0.0  # epoch seconds; 0 = now
    lease_to: str | None = None  # claim it at once for this worker id (inline execution)
    lease_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed queue message. ``deliveries`` counts claims, including this one."""

    id: int
    kind: str
    run_id: str
    key: str
    payload: bytes | None
    not_before: float
    deliveries: int
    lease_until: float
    owner: str | None


@dataclass(frozen=True, slots=True)
class Appended:
    """What one ``append`` wrote.

    ``seq`` is the run's last seq afterwards; ``message_ids`` holds the id of each enqueued
    message's live row, in the order given (for a key that was already live, that row's id).
    A worker that enqueued a message leased to itself learns the id here, with no read.
    """

    seq: int
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class QueuedStart:
    """Where a queued start landed (``World.start_queued``).

    ``run_id`` is the run's id: the new run's, or an unfinished one's (a dedupe key match, a
    debounce). ``appended`` is set when the start's ``first`` events were written: the new run
    was admitted in the start's own transaction and went on at once.
    """

    run_id: str
    appended: Appended | None = None


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The runs view, maintained by the world from run events in the same transaction."""

    run_id: str
    workflow_id: str
    status: str
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None
    input: bytes | None = None  # encoded args
    output: bytes | None = None  # encoded return value (completed)
    error: bytes | None = None  # encoded error (failed), or the block (blocked)
    #: the code version the run is on (``run_created``'s ``deployment_id``, or the
    #: deployment that adopted it)
    deployment_id: str | None = None
    #: the run this one was forked from (``run_created``'s ``forked_from``)
    forked_from: str | None = None
    #: the flow-control queue it was started on, its key there and its priority
    queue: str | None = None
    queue_key: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class HookInfo:
    """A live hook, found by its token."""

    run_id: str
    correlation_id: str
    token: str
    metadata: bytes | None = None
    kind: str = "hook"  # "hook" | "webhook"
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Chunk:
    """One stream chunk."""

    index: int
    data: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a reader needs to know about a stream.

    ``tail_index`` is the last index (-1 when empty); ``closed`` whether it is closed.
    """

    tail_index: int = -1
    closed: bool = False


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process registered in the world, kept fresh by its heartbeats.

    ``host``, ``pid`` and ``process`` say where it runs: ``process`` identifies the process
    on its machine (the runtime's :mod:`~wdk.runtime._liveness` writes and reads it; a world
    only stores it). ``started_at`` and ``last_seen`` are the world's clock at the first and
    the last heartbeat; the world sets them, whatever ``heartbeat`` is given.
    """

    worker_id: str
    host: str = ""
    pid: int = 0
    process: str = ""
    started_at: float = 0.0
    last_seen: float = 0.0


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as the world keeps it: its definition and where its ticks stand.

    The world stores ``spec`` as given (the runtime's encoding of cron or interval, workflow,
    arguments, timezone, overlap and catchup) and never reads it. Every write bumps
    ``version``; :meth:`World.update_schedule` writes only over the version it was given, so
    two workers handling one tick cannot both move the schedule on from the same state.
    """

    schedule_id: str
    spec: bytes
    paused: bool = False
    #: the latest fire time handled (started, skipped or buffered); ticks after it are due
    last_fire: float | None = None
    #: the next fire time after the last pass (what ``wdk schedules list`` shows)
    next_fire: float | None = None
    #: ``overlap="buffer_one"``: the fire time waiting for the previous run to finish
    buffered: float | None = None
    #: the run the schedule started last (``overlap`` waits on it)
    last_run_id: str | None = None
    updated_at: float = 0.0
    version: int = 0


class DuplicateEvent(Exception):  # noqa: N818 - a signal between world and runtime
    """An appended event's ``dedup_key`` already exists in the run; nothing was written."""

    def __init__(self, run_id: str, dedup_key: str) -> None:
        super().__init__(f"run {run_id} already has an event with key {dedup_key!r}")
        self.run_id = run_id
        self.dedup_key = dedup_key


class TokenConflict(Exception):  # noqa: N818 - a signal between world and runtime
    """A ``hook_created`` event asked for a token another live hook holds; nothing written."""

    def __init__(self, token: str, run_id: str) -> None:
        super().__init__(f"hook token {token!r} is held by run {run_id}")
        self.token = token
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class Page:
    """One page of runs, newest first, and the cursor for the next page (None at the end)."""

    runs: list[RunInfo] = field(default_factory=list)
    cursor: str | None = None


@runtime_checkable
class World(Protocol):
    """The storage contract every backend implements. All methods are coroutines.

    Semantics the conformance suite checks:

    * ``append`` is atomic: events, enqueued messages, acks all commit or none do.
      It assigns dense ``seq`` numbers per run and returns the last one with the enqueued
      messages' ids (:class:`Appended`).
    * Run events maintain the runs view: ``run_created`` inserts it (``pending``; its data is a
      msgpack map with ``workflow_id`` and ``input``, and optionally ``deployment_id`` and
      ``forked_from``), ``run_started`` -> ``running``, ``run_blocked`` -> ``blocked`` (its
      data becomes ``error``), ``run_unblocked`` -> ``running`` (``error`` cleared),
      ``run_adopted`` sets ``deployment_id``; none of these changes a terminal status.
      ``run_completed`` (data = output) / ``run_failed`` (data = error) / ``run_cancelled``
      set the terminal status. A terminal event also disposes every live hook of the run,
      closes its open streams, and deletes its queue messages except the ones acked in the
      same append.
    * ``hook_created`` (data: msgpack map with ``token``, ``metadata`` (bytes or None),
      ``kind``) registers a live hook; a token another live hook holds raises
      :class:`TokenConflict`. ``hook_disposed`` (same correlation id) releases it.
    * Any event with a ``dedup_key`` already used in the run raises :class:`DuplicateEvent`.
    """

    url: str

    async def setup(self) -> None:
        """Create or migrate storage. Idempotent; safe from several processes at once."""

    async def close(self) -> None:
        """Release connections. The world is unusable afterwards."""

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
        """Append events, enqueue messages and ack messages in one transaction.

        ``durable=False`` lets a world skip the flush to stable storage for this commit: it
        still survives a crash of the process, and the next durable commit makes it durable
        too, but a power cut or an OS crash before that may lose it. Only for writes that
        replay re-derives (a run's first decisions); a world may ignore it.

        ``expect_seq``: if given and the run's last seq differs, raise ``DuplicateEvent`` with
        key ``"seq"`` and write nothing. It must be a seq the caller has read (a log only
        grows, so it is never ahead of the log). Returns the run's last seq after the append
        and the ids of the enqueued messages.
        """
        ...

    async def read_events(self, run_id: str, after_seq: int = 0) -> list[Event]:
        """Events of a run with ``seq > after_seq``, in seq order."""
        ...

    async def get_run(self, run_id: str) -> RunInfo | None:
        """The run view, or None when no run has the id."""
        ...

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
        """Runs newest first (by ``created_at`` then id), filtered, paged by an opaque cursor.

        ``id_prefix`` keeps runs whose id starts with it (taken literally: ``%`` and ``_``
        are not wildcards); ``deployment_id`` keeps the runs on that deployment.
        """
        ...

    # -- hooks -----------------------------------------------------------------------
    async def get_hook_by_token(self, token: str) -> HookInfo | None:
        """The live hook holding ``token``, or None."""
        ...

    async def list_hooks(self, run_id: str | None = None) -> list[HookInfo]:
        """Live hooks, optionally of one run, oldest first."""
        ...

    async def deliver_hook(
        self, token: str, events: Sequence[NewEvent], *, enqueue: Sequence[NewMessage] = ()
    ) -> HookInfo | None:
        """Atomically: find the live hook for ``token`` and append ``events`` to its run.

        Returns the hook, or None (nothing written) when no live hook holds the token.
        """
        ...

    # -- queue -----------------------------------------------------------------------
    async def enqueue(self, messages: Sequence[NewMessage]) -> None:
        """Enqueue outside an append (same idempotency rules)."""
        ...

    async def claim(
        self,
        kinds: Sequence[str],
        *,
        worker_id: str,
        lease_s: float,
        deployment_id: str | None = None,
    ) -> Message | None:
        """Lease the oldest visible message of one of ``kinds`` (earliest ``not_before``).

        With ``deployment_id``, only messages of runs whose ``deployment_id`` is that one
        (a pinned worker leaves other deployments' runs to their own workers).
        """
        ...

    async def ack(self, message_ids: Sequence[int]) -> None:
        """Done with these messages: delete them (or re-show a dirty one, see NewMessage)."""
        ...

    async def release(self, message_id: int, *, not_before: float) -> None:
        """Give a leased message back, visible again at ``not_before`` (retry backoff)."""
        ...

    async def extend_lease(self, message_id: int, *, lease_s: float) -> bool:
        """Push the lease out; False if the message is gone (acked or deleted)."""
        ...

    async def get_message(self, key: str) -> Message | None:
        """The live message with idempotency key ``key`` (pending or leased), or None.

        For inspection and tests; a writer learns its messages' ids from ``append``.
        """
        ...

    async def next_due(
        self, kinds: Sequence[str], *, deployment_id: str | None = None
    ) -> float | None:
        """The earliest ``not_before`` among unleased messages of ``kinds``, or None.

        ``deployment_id`` filters as in :meth:`claim`.
        """
        ...

    async def list_leases(self) -> list[Message]:
        """Messages under a current lease (owner set, ``lease_until`` after now), oldest first.

        What ``wdk inspect workers`` shows: which worker holds what, and until when.
        """
        ...

    # -- flow control ------------------------------------------------------------------
    async def register_queues(self, specs: Sequence[QueueSpec]) -> None:
        """Create or update queue definitions (the last writer's limits win)."""
        ...

    async def get_queue(self, name: str) -> QueueSpec | None:
        """A registered queue, or None."""
        ...

    async def list_queues(self) -> list[QueueSpec]:
        """Every registered queue, by name."""
        ...

    async def start_queued(
        self,
        run_id: str,
        created: NewEvent,
        flow: FlowStart,
        *,
        first: Sequence[NewEvent] = (),
        enqueue: Sequence[NewMessage] = (),
    ) -> QueuedStart:
        """Create a run ``queued`` on ``flow.queue`` (no message) and admit what fits, atomically.

        ``created`` is the ``run_created`` event. With ``first``, a worker beside the caller
        offers the run's first pass: if the new run is admitted in this transaction, ``first``
        is appended after ``created`` and ``enqueue`` replaces its start message (as an append
        would), and the result's ``appended`` says so. The run the start landed on is
        ``run_id``, or, writing nothing new, the unfinished run with the same
        ``dedupe_key`` on the queue; or, for a ``debounce`` with a ``key``, the run of that
        key still waiting out its debounce, whose arguments (``run_created`` data and
        ``input``) become this start's and whose wait restarts. A ``run_id`` already used
        answers that run. Raises QueueError when the queue is not registered.
        """
        ...

    async def admit(self, queue: str | None = None) -> float | None:
        """Admit the waiting runs of ``queue`` (or of every queue) that the limits allow.

        Returns the earliest time a waiting run may become admissible without anything else
        happening (its delay or debounce ends, a rate window frees a token), or None.
        """
        ...

    async def claim_limited(self, *, worker_id: str, lease_s: float) -> tuple[Message | None, bool]:
        """Lease a visible message of a step with limits, if its limits allow one now.

        Such messages have a ``limit:`` kind (``_flow.limit_kind``) that carries the limits:
        at most ``concurrency`` messages of the kind under a current lease (an expired lease
        frees its slot), at most ``count`` claims per ``period``. Returns the message, or None
        and whether limited messages are visible but held back by their limits.
        """
        ...

    # -- workers ---------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Register ``worker`` (``started_at`` = now) or refresh it (``last_seen`` = now).

        Not a durable commit: a heartbeat lost to a crash is the next one's to make.
        """
        ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, ordered by ``worker_id``."""
        ...

    async def release_worker(self, worker_id: str, *, last_seen: float) -> int | None:
        """Forget a worker that is gone and give back every message it leased, atomically.

        Only while its registration is as the caller saw it (``last_seen`` not after the one
        given): a worker that heartbeat since is alive, and nothing happens (None; None too
        when it is not registered). The messages become visible at once (a dirty one too),
        keep their ``deliveries`` and get **new ids**, so an ack, release or lease extension
        by the old holder (a process that was paused, not dead) finds nothing. Returns how
        many messages were given back.
        """
        ...

    # -- streams ---------------------------------------------------------------------
    async def write_chunk(self, run_id: str, namespace: str, data: bytes) -> int:
        """Append a chunk; returns its index. Raises WorldError if the stream is closed."""
        ...

    async def close_stream(self, run_id: str, namespace: str) -> None:
        """Mark the stream closed (idempotent). An unknown stream is created closed."""
        ...

    async def read_chunks(
        self, run_id: str, namespace: str, start: int = 0, limit: int = 1000
    ) -> list[Chunk]:
        """Chunks with ``index >= start``, in order, at most ``limit``."""
        ...

    async def stream_info(self, run_id: str, namespace: str) -> StreamInfo:
        """Tail index and closed flag; ``StreamInfo()`` for an unknown stream."""
        ...

    async def list_streams(self, run_id: str) -> list[str]:
        """Namespaces with a stream in this run."""
        ...

    # -- schedules -------------------------------------------------------------------
    async def put_schedule(
        self, schedule_id: str, spec: bytes, *, last_fire: float, next_fire: float | None
    ) -> ScheduleInfo:
        """Register a schedule: insert it, or replace the spec of the one with this id.

        A new schedule starts at ``last_fire`` (ticks up to it are not due) with
        ``next_fire``; an existing one keeps its state (paused, ticks, buffered tick, last
        run) and only its spec changes (when it differs). Touches topic ``"schedules"``.
        """
        ...

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo | None:
        """The schedule with this id, or None."""
        ...

    async def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by id."""
        ...

    async def update_schedule(self, info: ScheduleInfo) -> ScheduleInfo | None:
        """Write ``info``'s state if the stored version is still ``info.version``.

        Writes ``paused``, ``last_fire``, ``next_fire``, ``buffered`` and ``last_run_id``
        (not the spec), bumps the version and ``updated_at``, and returns what is stored
        now; None (nothing written) when the version moved on or the schedule is unknown.
        Touches topic ``"schedules"``.
        """
        ...

    # -- change notification ---------------------------------------------------------
    async def wait_for_change(self, topics: Sequence[str], timeout: float) -> bool:
        """Sleep until a commit touches one of ``topics`` or ``timeout`` seconds pass.

        Topics: ``"queue"`` (a message was enqueued or re-shown), ``"schedules"`` (a
        schedule was registered or updated), ``"done:<id>"`` (the run
        ended), ``"stream:<id>:<namespace>"`` (a chunk was written or the stream closed),
        ``"run:<id>"`` (an event was appended to the run). Wait on ``done:`` to await a
        result: ``run:`` wakes on every step, and a world may deliver it to other processes
        only through its fallback poll (PostgreSQL does, since a NOTIFY per step would
        serialize every commit in the cluster).

        Returns True if woken by a change. Spurious wake-ups are allowed; missed ones are
        not (within one process), and across processes a change is seen within a short
        poll interval at worst. Never busy-polls.
        """
        ...


@runtime_checkable
class BlockingWrites(Protocol):
    """A world whose appends and acks can also be made from any thread, blocking it.

    Same contract as :meth:`World.append` and :meth:`World.ack`. The worker's step threads use
    it to record a sync step and run the run's next step without a trip through the event
    loop. A world that only has async I/O (PostgreSQL) does not offer it.
    """

    def append_blocking(
        self,
        run_id: str,
        events: Sequence[NewEvent],
        *,
        enqueue: Sequence[NewMessage] = (),
        ack: Sequence[int] = (),
        expect_seq: int | None = None,
        durable: bool = True,
    ) -> Appended:
        """:meth:`World.append`, in the calling thread."""
        ...

    def ack_blocking(self, message_ids: Sequence[int]) -> None:
        """:meth:`World.ack`, in the calling thread."""
        ...
