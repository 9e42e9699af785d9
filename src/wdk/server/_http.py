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


#: Fewer bits than this cannot reach Python's int-to-text digit limit (4300 digits need at
#: least 14,284 bits), so only rarer, larger ints pay for the exact check.
_BIG_INT_BITS = 14_000


def _int_fits(value: int) -> bool:
    """Whether ``json.dumps`` can write ``value`` (Python refuses ints past its digit limit)."""
    if value.bit_length() < _BIG_INT_BITS:
        return True
    try:
        int.__repr__(value)
    except ValueError:
        return False
    return True


def _text_fits(value: str) -> bool:
    """Whether ``value`` is valid Unicode (lone surrogates cannot be sent as UTF-8)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of a decoded value; raises TypeError when something has no JSON form.

    ``bytes`` become ``{"$bytes": "<base64>"}``; tuples and sets become lists; dataclasses
    and objects with ``__wdk_serialize__`` become their field maps. What it returns always
    goes through ``json.dumps(..., allow_nan=False)`` and UTF-8: NaN and infinities, ints
    past Python's 4,300-digit conversion limit and strings with lone surrogates raise here.
    """
    import base64
    import dataclasses

    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _int_fits(value):
            raise TypeError("integer with more digits than Python converts to text")
        return int(value)
    if isinstance(value, str):
        if not _text_fits(value):
            raise TypeError("string with lone surrogates (not valid Unicode)")
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
            if not isinstance(k, str) or not _text_fits(k):
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


def _serde_form(data: bytes) -> dict[str, str]:
    import base64

    return {"$serde": base64.b64encode(data).decode("ascii")}


def encoded_json(data: bytes | None) -> Any:
    """A stored (serde-encoded) value as JSON; never raises.

    A value without a JSON form (or that no longer decodes) becomes
    ``{"$serde": "<base64 of the stored bytes>"}``: the fallback is per stored value, so one
    run's odd output never breaks a response listing many runs, nor a stream.
    """
    if not data:
        return None
    try:
        return to_jsonable(serde.decode(data))
    except Exception:  # noqa: BLE001 - undecodable or not JSON-able: hand out the raw form
        return _serde_form(data)


def value_json(value: Any) -> Any:
    """A decoded value as JSON, else its ``{"$serde": ...}`` form (None if even that fails)."""
    try:
        return to_jsonable(value)
    except Exception:  # noqa: BLE001 - RecursionError, odd __wdk_serialize__: fall back
        pass
    try:
        return _serde_form(serde.encode(value))
    except Exception:  # noqa: BLE001 - nothing to show rather than a failed response
        return None


def safe_text(value: Any) -> str:
    r"""``str(value)`` that always goes out as UTF-8 JSON (for messages read from records).

    Lone surrogates (``os.fsdecode`` of odd file names) become ``\udcXX`` escapes; a value
    whose ``str`` fails is shown by its type.
    """
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - e.g. a 4,301-digit int: name it instead
        return f"<{type(value).__name__} that cannot be shown as text>"
    if _text_fits(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
