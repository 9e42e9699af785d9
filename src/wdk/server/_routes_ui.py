"""The web UI's routes: its pages and assets, and the JSON and live feeds it reads.

Pages (``/``, ``/runs/{run_id}``, ``/schedules``) are one HTML shell that holds no run data:
the script reads everything from ``/api`` with the bearer token the user typed (kept in
``sessionStorage``), so with ``WDK_API_TOKEN`` set nothing about a run or a schedule leaves the
server before the token is given.

JSON the UI reads (also public API):

* ``GET /api/runs/{run_id}/steps``: every step with its decoded input, output or error (the
  user's stack), timings and attempts (:func:`wdk.server._ui_views.steps_view`);
* ``GET /api/runs/{run_id}/events?after=&limit=``: the event log with decoded data, paged by
  ``cursor`` (the last seq returned, when more follow);
* ``GET /api/hooks/{token}/schema``: the JSON Schema of a typed hook's payload (or null).

Live feeds are Server-Sent Events read with ``fetch`` (not ``EventSource``, which cannot send
an ``Authorization`` header: the token never goes into a URL, where logs would keep it):

* ``GET /api/runs/feed?status=&workflow=&prefix=&limit=``: the first page of the runs list,
  sent at once and again whenever it changes;
* ``GET /api/runs/{run_id}/changes``: the run and its last event seq, sent at once and again
  whenever its log grows.

Both sleep on the world's change notification (``queue`` for the list: a run's start, each of
its passes and its end enqueue or acknowledge a message; ``run:<id>`` and ``done:<id>`` for a
run), with a re-check every ``_RECHECK`` seconds for worlds that only poll across processes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from wdk.server._http import ApiError, existing_run, int_query, run_json, server_state
from wdk.server._ui_views import event_view, steps_view
from wdk.worlds.base import RunStatus

__all__ = [
    "asset",
    "hook_schema",
    "page",
    "run_changes",
    "run_events",
    "run_steps",
    "run_streams",
    "runs_feed",
]

#: Seconds between re-checks when no change notification came (cross-process worlds).
_RECHECK = 2.0
#: Least seconds between two reads of one feed: a busy world notifies many times a second,
#: and a browser needs a few updates a second, not one per commit.
_MIN_INTERVAL = 0.25
_MAX_EVENTS = 5000
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "favicon.svg": "image/svg+xml"}
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _ui_file(name: str) -> bytes:
    return resources.files("wdk.server").joinpath("ui", name).read_bytes()


async def page(request: Request) -> Response:
    """``GET /``, ``/runs/{run_id}``, ``/schedules``: the UI's HTML shell (no data in it)."""
    base = request.scope.get("root_path", "").rstrip("/")
    html = _ui_file("index.html").decode().replace("{{BASE}}", _attr(base))
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"cache-control": "no-cache", "x-frame-options": "DENY"},
    )


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


async def asset(request: Request) -> Response:
    """``GET /ui/{name}``: the UI's script, stylesheet and icon (shipped in the wheel)."""
    name = request.path_params["name"]
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, f"no UI asset {name!r}")
    return Response(_ui_file(name), media_type=media_type, headers={"cache-control": "no-cache"})


async def run_steps(request: Request) -> Response:
    """``GET /api/runs/{run_id}/steps``: the run's steps with decoded values and attempts."""
    info = await existing_run(request)
    events = await server_state(request).world.read_events(info.run_id)
    return JSONResponse({"steps": steps_view(events)})


async def run_events(request: Request) -> Response:
    """``GET /api/runs/{run_id}/events?after=&limit=``: the log after seq ``after``."""
    info = await existing_run(request)
    after = int_query(request, "after", 0, 0, 2**62)
    limit = int_query(request, "limit", 1000, 1, _MAX_EVENTS)
    events = await server_state(request).world.read_events(info.run_id, after)
    page_events = events[:limit]
    cursor = str(page_events[-1].seq) if len(events) > limit else None
    return JSONResponse({"events": [event_view(e) for e in page_events], "cursor": cursor})


async def hook_schema(request: Request) -> Response:
    """``GET /api/hooks/{token}/schema``: ``{"schema": <JSON Schema> | null}`` of a live hook."""
    from wdk._delivery import SchemaLoadError, decode_hook, payload_schema

    state = server_state(request)
    token = request.path_params["token"]
    hook = await state.world.get_hook_by_token(token)
    if hook is None:
        raise ApiError(404, f"no live hook has token {token!r}")
    try:
        _, meta = decode_hook(hook)
        schema = payload_schema(meta.schema) if meta.schema else None
    except SchemaLoadError as exc:
        raise ApiError(500, str(exc)) from None
    return JSONResponse({"schema": schema})


async def _pace(previous: float) -> None:
    """Wait out the rest of ``_MIN_INTERVAL`` since the feed's previous read (rate limit)."""
    rest = previous + _MIN_INTERVAL - anyio.current_time()
    if rest > 0:
        await anyio.sleep(rest)


def _sse(event: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


async def runs_feed(request: Request) -> Response:
    """``GET /api/runs/feed``: the first page of the runs list, live (SSE)."""
    state = server_state(request)
    status = request.query_params.get("status") or None
    if status is not None and status not in RunStatus.ALL:
        raise ApiError(400, f"unknown status {status!r}; one of {', '.join(RunStatus.ALL)}")
    filters = {
        "workflow_id": request.query_params.get("workflow") or None,
        "status": status,
        "id_prefix": request.query_params.get("prefix") or None,
        "limit": int_query(request, "limit", 20, 1, 1000),
    }
    world = state.world

    async def body() -> AsyncIterator[bytes]:
        last: Any = None
        read_at = -_MIN_INTERVAL
        while True:
            await _pace(read_at)
            read_at = anyio.current_time()
            page = await world.list_runs(**filters)
            view = {"runs": [run_json(r) for r in page.runs], "cursor": page.cursor}
            if view != last:
                yield _sse("runs", view)
                last = view
            if not await world.wait_for_change(["queue"], _RECHECK):
                yield b": keep-alive\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


async def run_changes(request: Request) -> Response:
    """``GET /api/runs/{run_id}/changes``: the run and its last seq, again on every change."""
    info = await existing_run(request)
    world = server_state(request).world
    run_id = info.run_id
    topics = [f"run:{run_id}", f"done:{run_id}"]

    async def body() -> AsyncIterator[bytes]:
        last: Any = None
        read_at = -_MIN_INTERVAL
        while True:
            await _pace(read_at)
            read_at = anyio.current_time()
            run = await world.get_run(run_id)
            events = await world.read_events(run_id, last["seq"] if last else 0)
            seq = events[-1].seq if events else (last["seq"] if last else 0)
            view = {"run": run_json(run) if run else None, "seq": seq}
            if view != last:
                yield _sse("run", view)
                last = view
            if not await world.wait_for_change(topics, _RECHECK):
                yield b": keep-alive\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


async def run_streams(request: Request) -> Response:
    """``GET /api/runs/{run_id}/streams``: ``{"streams": [{namespace, tail_index, closed}]}``."""
    info = await existing_run(request)
    world = server_state(request).world
    out = []
    for namespace in sorted(await world.list_streams(info.run_id)):
        stream = await world.stream_info(info.run_id, namespace)
        out.append(
            {"namespace": namespace, "tail_index": stream.tail_index, "closed": stream.closed}
        )
    return JSONResponse({"streams": out})
