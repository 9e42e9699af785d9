"""Implementation of :mod:`wdk.api`."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from wdk import serde
from wdk._delivery import HookResumeResult, resume_checked
from wdk._delivery import resume_webhook as _resume_webhook
from wdk._ids import new_run_id
from wdk._webhooks import unwrap_metadata
from wdk.api._streams import Readable
from wdk.errors import (
    RunErrorCause,
    WorkflowRunCancelledError,
    WorkflowRunFailedError,
    WorkflowRunNotFoundError,
)
from wdk.runtime._flow_start import check_priority, flow_start, register_queue
from wdk.runtime._keys import wf_message
from wdk.runtime._loader import current_deployment, workflow_id_of
from wdk.runtime._local import taker_for
from wdk.worlds._default import get_world, set_world
from wdk.worlds._default import ready as _ready
from wdk.worlds.base import (
    DuplicateEvent,
    EventType,
    NewEvent,
    RunInfo,
    RunStatus,
    World,
)

__all__ = [
    "HookInfo",
    "HookResumeResult",
    "Run",
    "get_hook_by_token",
    "get_run",
    "get_world",
    "list_runs",
    "resume_hook",
    "resume_webhook",
    "set_world",
    "start",
]


@dataclass(frozen=True, slots=True)
class HookInfo:
    """A live hook: its run, token and metadata."""

    run_id: str
    token: str
    metadata: Any


class Run:
    """A handle on one run. Cheap: no I/O until a method is awaited."""

    def __init__(self, run_id: str, world: World | None = None, *, existing: bool = False) -> None:
        self.run_id = run_id
        #: True when the start that made this handle answered an existing run instead of
        #: creating one (a ``dedupe_key`` match, or a ``debounce`` collapsing into it)
        self.existing = existing
        self._world = world

    def __repr__(self) -> str:
        return f"Run({self.run_id!r})"

    async def _info(self) -> RunInfo:
        world = await _ready(self._world)
        info = await world.get_run(self.run_id)
        if info is None:
            raise WorkflowRunNotFoundError(f"no run has id {self.run_id!r}", run_id=self.run_id)
        return info

    async def status(self) -> str:
        """The run's status: ``queued``, ``pending``, ``running``, ``blocked`` or an end."""
        return (await self._info()).status

    async def info(self) -> RunInfo:
        """The stored run view."""
        return await self._info()

    async def return_value(self, timeout: float | None = None) -> Any:
        """Wait for the run to end; its return value, or its error raised."""
        import time

        world = await _ready(self._world)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self._info()
            if info.status in RunStatus.TERMINAL:
                return _outcome(info)
            wait = 5.0
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise TimeoutError(f"run {self.run_id} did not finish within {timeout}s")
                wait = min(wait, 5.0)
            await world.wait_for_change([f"done:{self.run_id}"], wait)

    async def cancel(self) -> None:
        """End the run ``cancelled``: in-flight steps are not re-queued, hooks released."""
        world = await _ready(self._world)
        info = await self._info()
        if info.status in RunStatus.TERMINAL:
            return
        try:
            await world.append(
                self.run_id, [NewEvent(EventType.RUN_CANCELLED, None, None, "run:end")]
            )
        except DuplicateEvent:
            pass

    def get_readable(
        self, *, namespace: str | None = None, start_index: int = 0
    ) -> AsyncIterator[Any]:
        """Follow a stream of the run (see :mod:`wdk.streams`)."""
        return Readable(self, namespace=namespace, start_index=start_index)

    async def events(self) -> list[Any]:
        """The run's event log."""
        world = await _ready(self._world)
        return await world.read_events(self.run_id)


def _outcome(info: RunInfo) -> Any:
    if info.status == RunStatus.COMPLETED:
        return serde.decode(info.output) if info.output else None
    if info.status == RunStatus.CANCELLED:
        raise WorkflowRunCancelledError(f"run {info.run_id} was cancelled", run_id=info.run_id)
    err = serde.decode(info.error) if info.error else {}
    if not isinstance(err, dict):
        err = {"message": str(err)}
    cause = RunErrorCause(
        message=str(err.get("message", "")),
        code=str(err.get("code", "")),
        stack=str(err.get("stack", "")),
        type=str(err.get("type", "")),
    )
    raise WorkflowRunFailedError(
        f"run {info.run_id} failed: {cause.message}", run_id=info.run_id, cause=cause
    )


async def start(
    workflow: Any,
    args: Sequence[Any] = (),
    *,
    world: World | None = None,
    run_id: str | None = None,
    deployment_id: str | None = None,
    queue: str | None = None,
    key: str | None = None,
    priority: int | None = None,
    dedupe_key: str | None = None,
    debounce: Any = None,
    delay: Any = None,
) -> Run:
    """Start a run of ``workflow`` (function or ID) with ``args``; returns at once.

    With ``run_id`` the start is idempotent: starting the same id again returns the existing
    run. The run records ``deployment_id``: by default ``WDK_DEPLOYMENT_ID``, else a hash of
    the workflow's code here (see docs/deploys.md).

    Flow control (docs/flow-control.md): ``queue`` names a :class:`wdk.Queue`; the run
    waits there (status ``queued``) until the queue's limits let it start. ``key`` is the
    per-key limit's key; ``priority`` (higher first) orders the waiting runs; while a run
    with ``dedupe_key`` on the queue is unfinished, another start returns that run; with
    ``debounce`` (a duration) and a ``key``, starts within the window collapse into one run
    that starts when the window closes, with the last start's arguments; ``delay`` (a
    duration) holds the run back that long (on a queue or not).

    Raises:
        QueueError: an unknown queue, or an option that needs one (or a key) without it.
        DurationError: a ``debounce`` or ``delay`` that is not a duration.
    """
    workflow_id = workflow_id_of(workflow)
    flow = flow_start(
        workflow_id,
        queue=queue,
        key=key,
        priority=priority,
        dedupe_key=dedupe_key,
        debounce=debounce,
        delay=delay,
    )
    w = await _ready(world)
    rid = run_id or new_run_id()
    fields: dict[str, Any] = {
        "workflow_id": workflow_id,
        "input": serde.encode(tuple(args), path="args"),
        "seed": secrets.token_bytes(16),
    }
    deployment = deployment_id or current_deployment(workflow_id)
    if deployment is not None:
        fields["deployment_id"] = deployment
    if flow is not None and flow.queue:
        fields.update(queue=flow.queue, queue_key=flow.key, priority=flow.priority)
    data = msgpack.packb(fields, use_bin_type=True)
    created = NewEvent(EventType.RUN_CREATED, None, data, "run:created")
    if flow is not None:
        if not flow.queue:  # only a delay: an ordinary run whose wake-up waits
            message = wf_message(rid, not_before=time.time() + (flow.delay or 0.0))
            with contextlib.suppress(DuplicateEvent):
                await w.append(rid, [created], enqueue=[message])
            return Run(rid, w)
        spec = await register_queue(w, flow.queue, workflow_id) or await w.get_queue(flow.queue)
        check_priority(spec, flow)
        # A worker of this process offers the run's first pass (see wdk.runtime._local).
        taker = taker_for(w)
        try:
            result = await taker.start_queued_run(rid, created, flow) if taker else None
            if result is None:
                result = await w.start_queued(rid, created, flow)
            landed = result.run_id
        except DuplicateEvent:  # the id was taken meanwhile, by an unqueued start
            landed = rid
        return Run(landed, w, existing=landed != rid)
    # A worker of this process takes the run at once when it can (see wdk.runtime._local).
    taker = taker_for(w)
    if taker is not None and await taker.start_run(rid, created):
        return Run(rid, w)
    try:
        await w.append(rid, [created], enqueue=[wf_message(rid)])
    except DuplicateEvent:
        pass
    return Run(rid, w)


def get_run(run_id: str, *, world: World | None = None) -> Run:
    """A handle on an existing run (no I/O until used)."""
    return Run(run_id, world)


async def list_runs(
    *,
    workflow: Any = None,
    status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    world: World | None = None,
) -> Any:
    """Runs newest first, as a page with ``runs`` and ``cursor``."""
    w = await _ready(world)
    workflow_id = workflow_id_of(workflow) if workflow is not None else None
    return await w.list_runs(workflow_id=workflow_id, status=status, limit=limit, cursor=cursor)


async def resume_hook(token: str, payload: Any, *, world: World | None = None) -> HookResumeResult:
    """Deliver ``payload`` to the live hook holding ``token``.

    A hook made with ``define_hook(Schema).create(...)`` gets the payload validated against
    ``Schema`` first, exactly as ``POST /api/hooks/{token}`` and ``wdk hooks resume`` do: the
    workflow receives the validated value (a model instance for a pydantic model).

    Raises:
        HookNotFoundError: no live hook holds ``token`` (unknown, disposed, or its run ended).
        HookPayloadError: the hook's schema rejected the payload; nothing was stored.
        WebhookTokenError: the token is a webhook's (send HTTP requests to its URL).
    """
    return await resume_checked(await _ready(world), token, payload)


async def resume_webhook(token: str, request: Any, *, world: World | None = None) -> Any:
    """Deliver an HTTP request to the webhook holding ``token``; the Response to answer with."""
    return await _resume_webhook(token, request, world=world)


async def get_hook_by_token(token: str, *, world: World | None = None) -> HookInfo | None:
    """The live hook holding ``token``, or None."""
    w = await _ready(world)
    hook = await w.get_hook_by_token(token)
    if hook is None:
        return None
    metadata, _ = unwrap_metadata(serde.decode(hook.metadata) if hook.metadata else None)
    return HookInfo(run_id=hook.run_id, token=hook.token, metadata=metadata)
