"""``/api/schedules``: list the schedules, pause, resume and trigger one.

The same operations as ``wdk schedules`` (:mod:`wdk.runtime._ticker` does the work); an
unknown id is a 404. Times are epoch seconds, as in the runs API.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wdk.errors import ScheduleError
from wdk.runtime._schedule_spec import Schedule
from wdk.runtime._ticker import get_schedule, set_paused
from wdk.runtime._ticker import trigger as start_now
from wdk.serde._json import encoded_json
from wdk.server._http import ApiError, server_state
from wdk.worlds.base import ScheduleInfo

__all__ = ["list_schedules", "pause", "resume", "schedule_json", "trigger"]


def schedule_json(info: ScheduleInfo) -> dict[str, Any]:
    """The API view of a schedule: its definition and where its ticks stand."""
    sched = Schedule.from_spec(info.schedule_id, info.spec)
    return {
        "schedule_id": info.schedule_id,
        "workflow_id": sched.workflow_id,
        "cron": sched.cron,
        "every": sched.every,
        "timezone": sched.timezone,
        "overlap": sched.overlap,
        "catchup": sched.catchup,
        "args": encoded_json(sched.args),
        "paused": info.paused,
        "last_fire": info.last_fire,
        "next_fire": None if info.paused else info.next_fire,
        "buffered": info.buffered,
        "last_run_id": info.last_run_id,
        "updated_at": info.updated_at,
    }


def _world(request: Request) -> Any:
    return server_state(request).world


async def list_schedules(request: Request) -> Response:
    """``GET /api/schedules``: every schedule, by id."""
    infos = await _world(request).list_schedules()
    return JSONResponse({"schedules": [schedule_json(i) for i in infos]})


async def _paused(request: Request, paused: bool) -> Response:
    world = _world(request)
    try:
        info = await set_paused(world, request.path_params["schedule_id"], paused, time.time())
    except ScheduleError as exc:
        raise ApiError(404, str(exc)) from None
    return JSONResponse(schedule_json(info))


async def pause(request: Request) -> Response:
    """``POST /api/schedules/{schedule_id}/pause``: stop starting runs for it."""
    return await _paused(request, True)


async def resume(request: Request) -> Response:
    """``POST /api/schedules/{schedule_id}/resume``: start runs again from its next tick."""
    return await _paused(request, False)


async def trigger(request: Request) -> Response:
    """``POST /api/schedules/{schedule_id}/trigger``: start one run now (201, its id)."""
    world = _world(request)
    schedule_id = request.path_params["schedule_id"]
    try:
        await get_schedule(world, schedule_id)
        run_id = await start_now(world, schedule_id)
    except ScheduleError as exc:
        raise ApiError(404, str(exc)) from None
    return JSONResponse(
        {"schedule_id": schedule_id, "run_id": run_id},
        status_code=201,
        headers={"x-workflow-run-id": run_id},
    )
