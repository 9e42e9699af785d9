"""What ``wdk inspect`` shows: stored values as JSON, times as ISO 8601 UTC, one timeline.

A run's steps, sleeps and hooks are folded into one timeline, in the order they were created.

Stored values (a run's input and output, step arguments and results, hook payloads) are serde
bytes; they are decoded and shown as JSON. A value JSON cannot hold is shown as
``{"$type": "module.Class", "repr": "..."}``, bytes as ``{"$bytes": "<hex>"}``: a marker, never
a silent string that looks like data.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from wdk import serde

__all__ = ["decode_stored", "iso", "json_view", "timeline"]

#: Keys of event data whose values are serde bytes of user values.
_STORED = frozenset({"input", "args", "kwargs", "result", "output", "payload", "error", "value"})


def iso(value: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2026-12-08T00:30:52.512Z``)."""
    if value is None or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    moment = dt.datetime.fromtimestamp(value, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def decode_stored(data: bytes | None) -> Any:
    """Stored bytes as a Python value: serde first, then plain msgpack, else a marker.

    Event data holds user values as serde bytes again (a step's ``args``, its ``result``):
    those are decoded too.
    """
    if not data:
        return None
    try:
        value = serde.decode(data)
    except Exception:  # noqa: BLE001 - display only
        import msgpack

        try:
            value = msgpack.unpackb(data, raw=False)
        except Exception:  # noqa: BLE001
            return {"$bytes": bytes(data).hex()}
    if isinstance(value, dict):
        return {
            k: decode_stored(v) if k in _STORED and isinstance(v, bytes) else v
            for k, v in value.items()
        }
    return value


def json_view(value: Any, key: str = "") -> Any:
    """``value`` as plain JSON data; times (keys ``at``, ``until``, ``*_at``) as ISO 8601 UTC."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if key in ("at", "until") or key.endswith("_at"):
            return iso(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): json_view(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_view(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return json_view(value.model_dump(mode="json"))
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return json_view(dataclasses.asdict(value))
    kind = type(value)
    return {"$type": f"{kind.__module__}.{kind.__qualname__}", "repr": repr(value)}


def _error_text(data: Any) -> str | None:
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return None if data is None else str(data)


def timeline(evs: list[Any]) -> list[dict[str, Any]]:
    """A run's steps, sleeps and hooks in the order they were created, one row each.

    Every row has ``kind`` (step, sleep or hook), ``id``, ``name``, ``status``, ``created_at``
    and ``completed_at``; a step adds ``attempts``, ``args``, ``result`` and ``error``, a sleep
    ``until``, a hook ``token`` and ``payload``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for e in evs:
        cid = e.correlation_id or ""
        data = decode_stored(e.data) if e.data else None
        info = data if isinstance(data, dict) else {}
        if e.type == "step_created":
            rows[cid] = {
                "kind": "step",
                "id": cid,
                "name": info.get("step"),
                "status": "pending",
                "attempts": 0,
                "args": info.get("args"),
                "kwargs": info.get("kwargs") or None,
                "result": None,
                "error": None,
                "created_at": e.created_at,
                "completed_at": None,
            }
        elif e.type == "wait_created":
            rows[cid] = {
                "kind": "sleep",
                "id": cid,
                "name": "sleep",
                "status": "waiting",
                "until": info.get("resume_at"),
                "created_at": e.created_at,
                "completed_at": None,
            }
        elif e.type == "hook_created":
            rows[cid] = {
                "kind": "hook",
                "id": cid,
                "name": info.get("kind") or "hook",
                "status": "waiting",
                "token": info.get("token"),
                "payload": None,
                "created_at": e.created_at,
                "completed_at": None,
            }
        row = rows.get(cid)
        if row is None:
            continue
        if e.type == "step_started":
            row["status"], row["attempts"] = "running", row["attempts"] + 1
        elif e.type == "step_retrying":
            row["status"], row["error"] = "retrying", _error_text(data)
        elif e.type == "step_completed":
            row["status"], row["completed_at"] = "completed", e.created_at
            row["result"], row["error"] = info.get("result", data), None
        elif e.type == "step_failed":
            row["status"], row["completed_at"] = "failed", e.created_at
            row["error"] = _error_text(data)
        elif e.type == "wait_completed":
            row["status"], row["completed_at"] = "completed", e.created_at
        elif e.type == "hook_received":
            row["status"], row["completed_at"] = "received", e.created_at
            row["payload"] = info.get("payload", data)
        elif e.type == "hook_disposed" and row["status"] == "waiting":
            row["status"], row["completed_at"] = "disposed", e.created_at
    return list(rows.values())
