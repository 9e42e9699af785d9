"""``/api/workflows/{workflow_id}/runs`` and ``/api/runs...``: start, list, show, cancel, stream.

Workflow IDs contain ``//`` and ``/`` (``workflow//orders.py//process_order``). The route
takes the rest of the path up to ``/runs``, after percent-decoding, so both the URL-encoded
form (``/api/workflows/workflow%2F%2Forders.py%2F%2Fprocess_order/runs``, recommended: proxies
may merge ``//``) and the raw form work.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from wdk.api import start
from wdk.errors import DurationError, QueueError, SerializationError, WorkflowNotRegisteredError
from wdk.runtime._streams import DEFAULT_NAMESPACE
from wdk.server._http import ApiError, existing_run, int_query, read_json, run_json, server_state
from wdk.server._models import StartRunRequest, parse_body
from wdk.server._sse import follow_stream, resolve_start
from wdk.worlds.base import RunStatus

__all__ = ["cancel_run", "get_run", "list_runs", "list_run_hooks", "start_run", "stream_run"]

WORKFLOW_ID_RE = re.compile(r"workflow//(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.py//[A-Za-z0-9_./]+")
_MAX_LIMIT = 1000
_FLOW_FIELDS = ("queue", "key", "priority", "dedupe_key", "debounce", "delay")


async def start_run(request: Request) -> Response:
    """``POST /api/workflows/{workflow_id}/runs`` with a :class:`StartRunRequest` body.

    Flow-control fields (docs/flow-control.md): ``queue``, ``key``, ``priority``,
    ``dedupe_key``, ``debounce``, ``delay``. A start that lands on an existing run (its
    ``run_id``, a ``dedupe_key`` match or a debounce) answers 200 with that run's id.
    """
    state = server_state(request)
    workflow_id: str = request.path_params["workflow_id"]
    body = parse_body(
        StartRunRequest, await read_json(request, state.config.max_body, required=False)
    )
    args, run_id = body.args, body.run_id
    if not WORKFLOW_ID_RE.fullmatch(workflow_id):
        raise ApiError(404, f"{workflow_id!r} is not a workflow id (workflow//<file>.py//<name>)")
    try:
        await anyio.to_thread.run_sync(state.project.workflow_target, workflow_id)
    except WorkflowNotRegisteredError as exc:
        raise ApiError(404, str(exc)) from None
    existing = await state.world.get_run(run_id) if run_id else None
    if existing is not None:
        if existing.workflow_id != workflow_id:
            raise ApiError(409, f"run {run_id} exists and belongs to {existing.workflow_id}")
        return _started(existing.run_id, workflow_id, 200)
    flow = {name: getattr(body, name) for name in _FLOW_FIELDS if getattr(body, name) is not None}
    try:
        run = await start(workflow_id, args, world=state.world, run_id=run_id, **flow)
    except (SerializationError, QueueError, DurationError) as exc:
        raise ApiError(400, str(exc)) from None
    return _started(run.run_id, workflow_id, 200 if run.existing else 201)


def _started(run_id: str, workflow_id: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"run_id": run_id, "workflow_id": workflow_id},
        status_code=status,
        headers={"x-workflow-run-id": run_id},
    )


async def list_runs(request: Request) -> Response:
    """``GET /api/runs?workflow=&status=&deployment=&prefix=&limit=&cursor=``: newest first.

    ``prefix`` keeps the runs whose id starts with it.
    """
    from wdk.errors import WorldError

    state = server_state(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in RunStatus.ALL:
        raise ApiError(400, f"unknown status {status!r}; one of {', '.join(RunStatus.ALL)}")
    limit = int_query(request, "limit", 20, 1, _MAX_LIMIT)
    filters: dict[str, Any] = {}
    deployment = request.query_params.get("deployment") or None
    if deployment is not None:
        filters["deployment_id"] = deployment
    prefix = request.query_params.get("prefix") or None
    if prefix is not None:
        filters["id_prefix"] = prefix
    try:
        page = await state.world.list_runs(
            workflow_id=request.query_params.get("workflow") or None,
            status=status,
            limit=limit,
            cursor=request.query_params.get("cursor") or None,
            **filters,
        )
    except WorldError:
        raise ApiError(400, "invalid cursor") from None
    return JSONResponse({"runs": [run_json(r) for r in page.runs], "cursor": page.cursor})


async def get_run(request: Request) -> Response:
    """``GET /api/runs/{run_id}``."""
    return JSONResponse(run_json(await existing_run(request)))


async def cancel_run(request: Request) -> Response:
    """``POST /api/runs/{run_id}/cancel``: idempotent; a finished run keeps its status."""
    state = server_state(request)
    info = await existing_run(request)
    if info.status not in RunStatus.TERMINAL:
        if state.worker is not None:
            await state.worker.cancel_run(info.run_id)
        else:
            from wdk.api import get_run as run_handle

            await run_handle(info.run_id, world=state.world).cancel()
        info = await state.world.get_run(info.run_id) or info
    return JSONResponse(run_json(info))


async def list_run_hooks(request: Request) -> Response:
    """``GET /api/runs/{run_id}/hooks``: the run's live hooks and webhooks."""
    from wdk.server._routes_hooks import hook_json

    state = server_state(request)
    info = await existing_run(request)
    hooks = await state.world.list_hooks(info.run_id)
    return JSONResponse({"hooks": [hook_json(h, state.config.base_url) for h in hooks]})


#: Largest chunk index accepted from a client (``startIndex`` and ``Last-Event-ID``).
MAX_INDEX = 2**62
_INDEX_RE = re.compile(r"[0-9]{1,19}")


def _last_event_id(raw: str) -> int:
    """A ``Last-Event-ID`` header as a chunk index in ``[0, MAX_INDEX)``, else ApiError 400."""
    text = raw.strip()
    value = int(text) if _INDEX_RE.fullmatch(text) else -1
    if not 0 <= value < MAX_INDEX:
        raise ApiError(
            400,
            f"Last-Event-ID must be the id of a received event: an integer between 0 and "
            f"{MAX_INDEX - 1}, got {text[:40]!r}",
        )
    return value


async def stream_run(request: Request) -> Response:
    """``GET /api/runs/{run_id}/stream?namespace=&startIndex=`` as Server-Sent Events."""
    state = server_state(request)
    info = await existing_run(request)
    namespace = request.query_params.get("namespace") or DEFAULT_NAMESPACE
    start_index = int_query(request, "startIndex", 0, -MAX_INDEX, MAX_INDEX)
    last_event = request.headers.get("last-event-id")
    if last_event is not None and last_event.strip():
        start_index = _last_event_id(last_event) + 1
    world = state.world
    tail = (await world.stream_info(info.run_id, namespace)).tail_index
    begin = await resolve_start(world, info.run_id, namespace, start_index)
    return StreamingResponse(
        follow_stream(world, info.run_id, namespace, begin, keepalive=state.config.keepalive),
        media_type="text/event-stream",
        headers={
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
            "x-workflow-run-id": info.run_id,
            "x-workflow-stream-tail-index": str(tail),
        },
    )
