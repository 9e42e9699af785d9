"""Small HTTP helpers shared by the routes: JSON errors, bounded bodies, run views."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from wdk import serde
from wdk.serde._json import encoded_json, safe_text, to_jsonable, value_json
from wdk.worlds.base import RunInfo

__all__ = [
    "ApiError",
    "blocked_json",
    "error_response",
    "read_body",
    "read_json",
    "run_json",
    "safe_text",
    "to_jsonable",
    "value_json",
]


@dataclass
class ApiError(Exception):
    """An error answered as ``{"error": message, ...extra}`` with ``status``."""

    status: int
    message: str
    extra: dict[str, Any] | None = None


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    """Query parameter ``name`` as an int in ``[low, high]`` (``default`` when absent).

    Raises ApiError (400) naming the parameter when it is not an integer or out of range.
    """
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter {name!r} must be between {low} and {high}")
    return value


def server_state(request: Request) -> Any:
    """The app's ``ServerState`` (world, project, config, worker), set by its lifespan."""
    return request.app.state.wdk


async def existing_run(request: Request) -> RunInfo:
    """The run the ``{run_id}`` path parameter names; 404 when there is none."""
    run_id = request.path_params["run_id"]
    info: RunInfo | None = await server_state(request).world.get_run(run_id)
    if info is None:
        raise ApiError(404, f"no run has id {run_id!r}")
    return info


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    """The JSON body every error response has: ``{"error": "...", ...}``."""
    return JSONResponse({"error": message, **extra}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes with 413 (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header") from None
        if size > limit:
            raise ApiError(413, f"request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, required: bool = True) -> Any:
    """The body parsed as JSON; 400 with the parser's reason when it is not JSON."""
    body = await read_body(request, limit)
    if not body.strip():
        if required:
            raise ApiError(400, "request body must be JSON; it was empty")
        return None
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to turn a number longer than sys.get_int_max_str_digits() into an
        # int (a denial-of-service guard): parse again, keeping such numbers as text, only
        # to say where the offending one is.
        raise ApiError(400, _big_int_message(body)) from None


class _LongInt(str):
    """A JSON integer literal too long for ``int()``, kept as its digits."""


def _parse_int(digits: str) -> int | _LongInt:
    try:
        return int(digits)
    except ValueError:
        return _LongInt(digits)


def _find_long_int(value: Any, path: str) -> str | None:
    if isinstance(value, _LongInt):
        return path
    if isinstance(value, list):
        items: Any = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        items = ((f"{path}[{json.dumps(k)}]", v) for k, v in value.items())
    else:
        return None
    for where, item in items:
        found = _find_long_int(item, where)
        if found is not None:
            return found
    return None


def _big_int_message(body: bytes) -> str:
    import sys

    limit = sys.get_int_max_str_digits()
    try:
        where = _find_long_int(json.loads(body, parse_int=_parse_int), "body")
    except (ValueError, RecursionError):  # the first error is the one worth reporting
        where = None
    return (
        f"request body has an integer with more than {limit} digits at {where or 'body'}; "
        "Python refuses to convert numbers that long. Send it as a JSON string instead"
    )


def _decoded_error(data: bytes | None) -> Any:
    try:
        return serde.decode(data) if data else None
    except Exception:  # noqa: BLE001 - a damaged error record still shows the run's status
        return None


def blocked_json(data: bytes | None) -> dict[str, Any]:
    """Why a blocked run is parked: ``{message, code, event, location}`` from its block record.

    ``event`` is the log's seq where the code diverged (None when the workflow or a step is
    missing), ``location`` the user's ``file:line`` ("" when unknown).
    """
    block = _decoded_error(data)
    if not isinstance(block, dict):
        return {
            "message": "" if block is None else safe_text(block),
            "code": "",
            "event": None,
            "location": "",
        }
    event = block.get("event")
    return {
        "message": safe_text(block.get("message", "")),
        "code": safe_text(block.get("code", "")),
        "event": event if isinstance(event, int) and not isinstance(event, bool) else None,
        "location": safe_text(block.get("location") or ""),
    }


def run_json(info: RunInfo) -> dict[str, Any]:
    """The API view of a run (no stack traces: only the error's message, code and type).

    A blocked run has ``blocked`` (see :func:`blocked_json`); a failed one ``error``.
    """
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "workflow_id": info.workflow_id,
        "status": info.status,
        "created_at": info.created_at,
        "started_at": info.started_at,
        "completed_at": info.completed_at,
        "deployment_id": info.deployment_id,
        "forked_from": info.forked_from,
        "queue": info.queue,
        "queue_key": info.queue_key,
        "priority": info.priority,
    }
    if info.status == "completed":
        out["output"] = encoded_json(info.output)
    if info.status == "blocked":
        out["blocked"] = blocked_json(info.error)
    if info.status == "failed":
        err = _decoded_error(info.error)
        if isinstance(err, dict):
            out["error"] = {
                "message": safe_text(err.get("message", "")),
                "code": safe_text(err.get("code", "")),
                "type": safe_text(err.get("type", "")),
            }
        else:
            message = "" if err is None else safe_text(err)
            out["error"] = {"message": message, "code": "", "type": ""}
    return out
