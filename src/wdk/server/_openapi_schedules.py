"""The ``/api/schedules`` part of the OpenAPI document (merged in by ``_openapi``).

Kept apart so the schedule routes and their description change together.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PATHS", "SCHEMAS"]

_JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ERROR = _ref("Error")
_UNAUTHORIZED = _json(_ERROR, "Missing or invalid bearer token (only when WDK_API_TOKEN is set).")
_NOT_FOUND = _json(_ERROR, "No schedule has the id.")
_ID = {
    "name": "schedule_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The id given to ``wdk.schedule(...)``.",
}
_TIME = {"type": "number", "nullable": True, "description": "Epoch seconds."}

SCHEMAS: dict[str, Any] = {
    "Schedule": {
        "type": "object",
        "required": ["schedule_id", "workflow_id", "paused"],
        "properties": {
            "schedule_id": {"type": "string"},
            "workflow_id": {"type": "string"},
            "cron": {"type": "string", "nullable": True},
            "every": {"type": "number", "nullable": True, "description": "Seconds."},
            "timezone": {"type": "string"},
            "overlap": {"type": "string", "enum": ["skip", "allow", "buffer_one"]},
            "catchup": {"type": "string", "enum": ["none", "latest", "all"]},
            "args": {"description": "The arguments of every run, decoded to JSON."},
            "paused": {"type": "boolean"},
            "last_fire": _TIME,
            "next_fire": _TIME,
            "buffered": _TIME,
            "last_run_id": {"type": "string", "nullable": True},
            "updated_at": {"type": "number"},
        },
    },
}


def _state_change(summary: str, description: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "parameters": [_ID],
            "responses": {
                "200": _json(_ref("Schedule"), "The schedule afterwards."),
                "401": _UNAUTHORIZED,
                "404": _NOT_FOUND,
            },
        }
    }


PATHS: dict[str, Any] = {
    "/api/schedules": {
        "get": {
            "summary": "List the schedules",
            "description": "Every schedule stored in the world (a worker that imported its "
            "module stored it), by id.",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"schedules": {"type": "array", "items": _ref("Schedule")}},
                    },
                    "The schedules.",
                ),
                "401": _UNAUTHORIZED,
            },
        }
    },
    "/api/schedules/{schedule_id}/pause": _state_change(
        "Pause a schedule", "No run starts for it until it is resumed; runs going on go on."
    ),
    "/api/schedules/{schedule_id}/resume": _state_change(
        "Resume a schedule",
        "Runs start again from its next tick; ticks that fell due while it was paused are skipped.",
    ),
    "/api/schedules/{schedule_id}/trigger": {
        "post": {
            "summary": "Start one run of a schedule now",
            "description": "Outside its ticks, paused or not; the run counts as the "
            "schedule's latest for `overlap`.",
            "parameters": [_ID],
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "properties": {
                            "schedule_id": {"type": "string"},
                            "run_id": {"type": "string"},
                        },
                    },
                    "The run started.",
                ),
                "401": _UNAUTHORIZED,
                "404": _NOT_FOUND,
            },
        }
    },
}
