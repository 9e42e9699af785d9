"""``POST /api/runs/{run_id}/retry`` and ``POST /api/runs/{run_id}/fork``: the deploy tools.

Both take the exact run id (no prefixes over HTTP: a URL should name one thing for good) and
leave the work to :mod:`wdk.runtime._deploys`, answering its errors as 404 (no such run) and
409 (the run cannot do it as it stands).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wdk.errors import RunStateError, WorkflowRunNotFoundError
from wdk.runtime._deploys import fork_run, retry_run
from wdk.server._http import ApiError, read_json

__all__ = ["MAX_FROM_STEP", "fork", "retry"]

#: Largest ``from_step`` accepted in a fork body (larger: 400, not a database overflow).
MAX_FROM_STEP = 2**31 - 1


def _state(request: Request) -> Any:
    return request.app.state.wdk


async def _existing_id(request: Request) -> str:
    run_id: str = request.path_params["run_id"]
    if await _state(request).world.get_run(run_id) is None:
        raise ApiError(404, f"no run has id {run_id!r}")
    return run_id


async def retry(request: Request) -> Response:
    """``POST /api/runs/{run_id}/retry``: try a blocked run again now."""
    run_id = await _existing_id(request)
    try:
        await retry_run(_state(request).world, run_id)
    except WorkflowRunNotFoundError as exc:
        raise ApiError(404, str(exc) or f"no run has id {run_id!r}") from None
    except RunStateError as exc:
        raise ApiError(409, str(exc) or f"run {run_id} is not blocked", _status(exc)) from None
    return JSONResponse({"run_id": run_id, "status": "running"})


def _from_step(body: Any) -> int | None:
    """``from_step`` of a fork body (None: the default), or ApiError 400 saying what is off."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"from_step": 2}')
    unknown = sorted(set(body) - {"from_step"})
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; allowed: from_step")
    value = body.get("from_step")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "'from_step' must be an integer: how many completed steps to reuse")
    if not 0 <= value <= MAX_FROM_STEP:
        raise ApiError(400, f"'from_step' must be between 0 and {MAX_FROM_STEP}")
    return value


async def fork(request: Request) -> Response:
    """``POST /api/runs/{run_id}/fork`` with an optional ``{"from_step": N}``: a new run."""
    state = _state(request)
    body = await read_json(request, state.config.max_body, required=False)
    from_step = _from_step(body)
    run_id = await _existing_id(request)
    try:
        new_id = await fork_run(
            state.world,
            run_id,
            from_step=from_step,
            deployment_id=state.config.deployment_id,
        )
    except WorkflowRunNotFoundError as exc:
        raise ApiError(404, str(exc) or f"no run has id {run_id!r}") from None
    except RunStateError as exc:
        raise ApiError(409, str(exc) or f"run {run_id} cannot be forked", _status(exc)) from None
    return JSONResponse(
        {"run_id": new_id, "forked_from": run_id},
        status_code=201,
        headers={"x-workflow-run-id": new_id},
    )


def _status(exc: RunStateError) -> dict[str, Any] | None:
    return {"run_status": exc.status} if exc.status else None
