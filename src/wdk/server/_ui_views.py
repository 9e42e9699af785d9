"""What the web UI reads about one run: its steps (with attempts and timings) and its event log.

The world keeps a run as an append-only event log whose data are msgpack maps holding the
user's values as serde bytes again (a step's ``args``, its ``result``, a hook's ``payload``).
These views decode both layers and turn the values into JSON a browser can show:

* ``bytes`` become ``{"$bytes": "<base64>"}``;
* an exception becomes ``{"$error": "module.Type", "message": "..."}``;
* any other value JSON cannot carry becomes ``{"$type": "module.Class", "repr": "..."}``
  (a marker, never a string that looks like data);
* stored bytes that do not decode at all (a class the server cannot import) stay as
  ``{"$serde": "<base64 of the stored bytes>"}``, the form the rest of the API uses.

Stack traces keep only the user's frames: wdk's own frames (the worker, the executor) are cut,
so the trace a user reads starts at their step.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import msgpack

from wdk import serde
from wdk.worlds.base import Event, EventType

__all__ = ["display", "event_view", "steps_view", "user_stack"]

_WDK_DIR = str(Path(__file__).resolve().parent.parent)
#: Keys of event data whose values are serde bytes of user values.
_STORED = frozenset(
    {"input", "args", "kwargs", "result", "output", "payload", "error", "value", "metadata"}
)
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+')


def display(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data for display (see the module docstring for the markers)."""
    if depth > 64:
        return {"$type": type(value).__name__, "repr": "(nested too deeply)"}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): display(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [display(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        kind = type(value)
        return {"$error": f"{kind.__module__}.{kind.__qualname__}", "message": str(value)}
    if hasattr(value, "model_dump"):
        try:
            return display(value.model_dump(mode="json"), depth + 1)
        except Exception:  # noqa: BLE001 - display only: fall through to the marker
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return display(fields, depth + 1)
    kind = type(value)
    return {"$type": f"{kind.__module__}.{kind.__qualname__}", "repr": _short_repr(value)}


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the page
        return "(repr failed)"
    return text if len(text) <= 2000 else text[:2000] + "..."


def _serde_marker(data: bytes) -> dict[str, str]:
    return {"$serde": base64.b64encode(bytes(data)).decode("ascii")}


def _decode_value(data: bytes) -> Any:
    """User value bytes (serde) as a Python value, or the ``$serde`` marker."""
    try:
        return serde.decode(data)
    except Exception:  # noqa: BLE001 - a class the server cannot import: keep the bytes
        return _serde_marker(data)


def _decode_event(data: bytes | None) -> Any:
    """Event data as Python: serde first, plain msgpack next; nested user values decoded."""
    if not data:
        return None
    try:
        value = serde.decode(data)
    except Exception:  # noqa: BLE001 - runtime records are plain msgpack maps
        try:
            value = msgpack.unpackb(data, raw=False)
        except Exception:  # noqa: BLE001 - damaged: show the bytes rather than fail
            return _serde_marker(data)
    if isinstance(value, dict):
        return {
            k: _decode_value(v) if k in _STORED and isinstance(v, bytes) else v
            for k, v in value.items()
        }
    return value


def user_stack(stack: str) -> str:
    """``stack`` (a formatted traceback) without the frames of wdk's own modules."""
    out: list[str] = []
    skipping = False
    for line in stack.splitlines(keepends=True):
        frame = _FRAME.match(line)
        if frame is not None:
            skipping = frame.group("file").startswith(_WDK_DIR)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            out.append(line)
    return "".join(out)


def _error_view(info: Any) -> dict[str, Any]:
    """``{message, type, stack?}`` from a step's failure record (or whatever it holds)."""
    error = info.get("error") if isinstance(info, dict) else info
    out: dict[str, Any]
    if isinstance(error, BaseException):
        kind = type(error)
        out = {
            "message": str(error) or kind.__name__,
            "type": f"{kind.__module__}.{kind.__qualname__}",
        }
    elif isinstance(error, dict):
        out = {"message": str(error.get("message", "")), "type": str(error.get("type", ""))}
        if isinstance(error.get("stack"), str):
            out["stack"] = user_stack(error["stack"])
    else:
        out = {"message": "" if error is None else str(display(error)), "type": ""}
    if isinstance(info, dict) and isinstance(info.get("stack"), str):
        out["stack"] = user_stack(info["stack"])
    return out


def _at(info: Any, event: Event) -> float:
    at = info.get("at") if isinstance(info, dict) else None
    return (
        float(at) if isinstance(at, int | float) and not isinstance(at, bool) else event.created_at
    )


def _input(info: dict[str, Any]) -> Any:
    args, kwargs = info.get("args"), info.get("kwargs")
    if isinstance(args, tuple):
        args = list(args)
    if kwargs:
        return {"args": display(args), "kwargs": display(kwargs)}
    return display(args if args is not None else [])


def steps_view(events: list[Event]) -> list[dict[str, Any]]:
    """The run's steps in the order they were created, each with every attempt.

    A step is ``pending`` until an attempt starts, ``running`` during attempts (also between
    a failed attempt and its retry), then ``completed``, ``failed`` or, when the run ended
    first, ``cancelled``. Times are epoch seconds; ``duration_ms`` runs from the step's first
    attempt to its end (None while it runs).
    """
    steps: dict[str, dict[str, Any]] = {}
    run_end: float | None = None
    for event in events:
        cid = event.correlation_id or ""
        if event.type in EventType.RUN_TERMINAL:
            run_end = event.created_at
        if event.type == EventType.STEP_CREATED:
            info = _decode_event(event.data)
            info = info if isinstance(info, dict) else {}
            step_id = str(info.get("step") or "")
            steps[cid] = {
                "step_id": step_id,
                "name": step_id.rsplit("//", 1)[-1],
                "correlation_id": cid,
                "status": "pending",
                "attempts": [],
                "created_at": event.created_at,
                "started_at": None,
                "completed_at": None,
                "duration_ms": None,
                "input": _input(info),
                "output": None,
                "error": None,
            }
            continue
        step = steps.get(cid)
        if step is None or event.type not in _STEP_OUTCOMES:
            continue
        info = _decode_event(event.data)
        at = _at(info, event)
        attempts: list[dict[str, Any]] = step["attempts"]
        if event.type == EventType.STEP_STARTED:
            number = info.get("attempt") if isinstance(info, dict) else None
            attempts.append(
                {
                    "attempt": number if isinstance(number, int) else len(attempts) + 1,
                    "started_at": at,
                    "ended_at": None,
                }
            )
            step["status"] = "running"
            if step["started_at"] is None:
                step["started_at"] = at
            continue
        if attempts and attempts[-1]["ended_at"] is None:
            attempts[-1]["ended_at"] = at
        if event.type == EventType.STEP_COMPLETED:
            result = info.get("result") if isinstance(info, dict) else info
            step.update(status="completed", completed_at=at, output=display(result), error=None)
        else:
            error = _error_view(info)
            if attempts:
                attempts[-1]["error"] = error
            if event.type == EventType.STEP_FAILED:
                step.update(status="failed", completed_at=at, error=error)
    for step in steps.values():
        if step["status"] in ("pending", "running") and run_end is not None:
            step["status"] = "cancelled"
            step["completed_at"] = run_end
            if step["attempts"] and step["attempts"][-1]["ended_at"] is None:
                step["attempts"][-1]["ended_at"] = run_end
        if step["started_at"] is not None and step["completed_at"] is not None:
            step["duration_ms"] = round((step["completed_at"] - step["started_at"]) * 1000, 3)
        del step["created_at"]
    return list(steps.values())


_STEP_OUTCOMES = frozenset(
    {
        EventType.STEP_STARTED,
        EventType.STEP_COMPLETED,
        EventType.STEP_FAILED,
        EventType.STEP_RETRYING,
    }
)


def event_view(event: Event) -> dict[str, Any]:
    """One event of the log for the UI: ``{seq, type, at, correlation_id, data}``.

    Failure records carry the user's stack (wdk's frames cut), the error as a marker.
    """
    data = _decode_event(event.data)
    if isinstance(data, dict) and isinstance(data.get("stack"), str):
        data = {**data, "stack": user_stack(data["stack"])}
    return {
        "seq": event.seq,
        "type": event.type,
        "at": event.created_at,
        "correlation_id": event.correlation_id,
        "data": display(data),
    }
