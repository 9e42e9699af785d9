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
from wdk.server._http import ApiError, existing_run, read_json, server_state
from wdk.server._models import MAX_FROM_STEP, ForkRequest, parse_body

__all__ = ["MAX_FROM_STEP", "fork", "retry"]


async def retry(request: Request) -> Response:
    """``POST /api/runs/{run_id}/retry``: try a blocked run again now."""
    run_id = (await existing_run(request)).run_id
    try:
        await retry_run(server_state(request).world, run_id)
    except WorkflowRunNotFoundError as exc:
        raise ApiError(404, str(exc) or f"no run has id {run_id!r}") from None
    except RunStateError as exc:
        raise ApiError(409, str(exc) or f"run {run_id} is not blocked", _status(exc)) from None
    return JSONResponse({"run_id": run_id, "status": "running"})


async def fork(request: Request) -> Response:
    """``POST /api/runs/{run_id}/fork`` with an optional :class:`ForkRequest`: a new run."""
    state = server_state(request)
    body = parse_body(ForkRequest, await read_json(request, state.config.max_body, required=False))
    from_step = body.from_step
    run_id = (await existing_run(request)).run_id
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
