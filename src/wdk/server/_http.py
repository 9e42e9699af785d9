"""Small HTTP helpers shared by the routes: JSON errors, bounded bodies, run views."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from wdk import serde
from wdk.worlds.base import RunInfo

__all__ = [
    "ApiError",
    "blocked_json",
    "error_response",
    "read_body",
    "read_json",
    "run_json",
    "to_jsonable",
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


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a decoded value; raises TypeError when something has no JSON form.

    ``bytes`` become ``{"$bytes": "<base64>"}``; tuples and sets become lists; dataclasses
    and objects with ``__wdk_serialize__`` become their field maps.
    """
    import base64
    import dataclasses

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TypeError("non-finite float")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("non-string key")
            out[k] = to_jsonable(v)
        return out
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    serialize = getattr(value, "__wdk_serialize__", None)
    if callable(serialize):
        return to_jsonable(serialize())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise TypeError(f"{type(value).__name__} has no JSON form")


def encoded_json(data: bytes | None) -> Any:
    """A stored (serde-encoded) value as JSON; values without a JSON form become a marker."""
    import base64

    if not data:
        return None
    try:
        return to_jsonable(serde.decode(data))
    except Exception:  # noqa: BLE001 - undecodable or not JSON-able: hand out the raw form
        return {"$serde": base64.b64encode(data).decode("ascii")}


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
            "message": "" if block is None else str(block),
            "code": "",
            "event": None,
            "location": "",
        }
    event = block.get("event")
    return {
        "message": str(block.get("message", "")),
        "code": str(block.get("code", "")),
        "event": event if isinstance(event, int) and not isinstance(event, bool) else None,
        "location": str(block.get("location") or ""),
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
                "message": str(err.get("message", "")),
                "code": str(err.get("code", "")),
                "type": str(err.get("type", "")),
            }
        else:
            out["error"] = {"message": "" if err is None else str(err), "code": "", "type": ""}
    return out
