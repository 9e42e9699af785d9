"""Implementation of :mod:`wdk.api`."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from wdk import serde
from wdk._ids import new_run_id
from wdk.errors import (
    HookNotFoundError,
    RunErrorCause,
    WorkflowRunCancelledError,
    WorkflowRunFailedError,
    WorkflowRunNotFoundError,
)
from wdk.runtime._loader import current_deployment, workflow_id_of
from wdk.runtime._local import taker_for
from wdk.worlds.base import (
    DuplicateEvent,
    EventType,
    NewEvent,
    NewMessage,
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

_world: World | None = None


def get_world() -> World:
    """The process default world (``WDK_WORLD``, else ``.wdk/wdk.db``), opened on first use."""
    global _world
    if _world is None:
        from wdk.worlds import open_world

        _world = open_world()
    return _world


def set_world(world: World | None) -> None:
    """Make ``world`` the process default (None: reopen from ``WDK_WORLD`` on next use)."""
    global _world
    _world = world


async def _ready(world: World | None) -> World:
    w = world or get_world()
    if not getattr(w, "_wdk_setup_done", False):
        await w.setup()
        try:
            w._wdk_setup_done = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return w


@dataclass(frozen=True, slots=True)
class HookResumeResult:
    """What ``resume_hook`` did: which run the payload went to."""

    run_id: str


@dataclass(frozen=True, slots=True)
class HookInfo:
    """A live hook: its run, token and metadata."""

    run_id: str
    token: str
    metadata: Any


class Run:
    """A handle on one run. Cheap: no I/O until a method is awaited."""

    def __init__(self, run_id: str, world: World | None = None) -> None:
        self.run_id = run_id
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
        """``pending``, ``running``, ``blocked``, ``completed``, ``failed`` or ``cancelled``."""
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
        from wdk.runtime._streams import Readable

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
) -> Run:
    """Start a run of ``workflow`` (function or ID) with ``args``; returns at once.

    With ``run_id`` the start is idempotent: starting the same id again returns the existing
    run. The run records ``deployment_id``: by default ``WDK_DEPLOYMENT_ID``, else a hash of
    the workflow's code here (see docs/deploys.md).
    """
    workflow_id = workflow_id_of(workflow)
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
    data = msgpack.packb(fields, use_bin_type=True)
    created = NewEvent(EventType.RUN_CREATED, None, data, "run:created")
    # A worker of this process takes the run at once when it can (see wdk.runtime._local).
    taker = taker_for(w)
    if taker is not None and await taker.start_run(rid, created):
        return Run(rid, w)
    try:
        await w.append(rid, [created], enqueue=[NewMessage("workflow", rid, f"wf:{rid}")])
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
    """Deliver ``payload`` to the live hook holding ``token``."""
    import time

    w = await _ready(world)
    hook = await w.get_hook_by_token(token)
    if hook is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    data = serde.encode({"at": time.time(), "payload": payload}, path="payload")
    delivered = await w.deliver_hook(
        token,
        [NewEvent(EventType.HOOK_RECEIVED, hook.correlation_id, data)],
        enqueue=[NewMessage("workflow", hook.run_id, f"wf:{hook.run_id}")],
    )
    if delivered is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    return HookResumeResult(run_id=delivered.run_id)


async def resume_webhook(token: str, request: Any, *, world: World | None = None) -> Any:
    """Deliver an HTTP request to the webhook holding ``token``; the Response to answer with."""
    from wdk.server import resume_webhook as _resume_webhook

    return await _resume_webhook(token, request, world=world)


async def get_hook_by_token(token: str, *, world: World | None = None) -> HookInfo | None:
    """The live hook holding ``token``, or None."""
    w = await _ready(world)
    hook = await w.get_hook_by_token(token)
    if hook is None:
        return None
    from wdk._webhooks import unwrap_metadata

    metadata, _ = unwrap_metadata(serde.decode(hook.metadata) if hook.metadata else None)
    return HookInfo(run_id=hook.run_id, token=hook.token, metadata=metadata)
