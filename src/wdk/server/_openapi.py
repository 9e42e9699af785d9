"""The OpenAPI 3.0 document served at ``/openapi.json``.

Hand-written; a test keeps it in step with the routes.
"""

from __future__ import annotations

import copy
from typing import Any

from wdk.worlds.base import RunStatus

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_RUN_ID = {
    "name": "run_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The run's id (``wrun_<ULID>`` unless chosen at start).",
}
_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
_UNAUTHORIZED = _error("Missing or invalid bearer token (only when WDK_API_TOKEN is set).")
_STATUS = {"type": "string", "enum": list(RunStatus.ALL)}

_DURATION = {"oneOf": [{"type": "string"}, {"type": "number"}]}
#: the start body's flow-control fields (docs/flow-control.md)
_FLOW_FIELDS: dict[str, Any] = {
    "queue": {"type": "string", "description": "Start on this wdk.Queue (status `queued`)."},
    "key": {"type": "string", "description": "Per-key limit and debounce key."},
    "priority": {"type": "integer", "description": "Higher starts first on the queue."},
    "dedupe_key": {
        "type": "string",
        "description": "While a run with this key is unfinished on the queue, answer it (200).",
    },
    "debounce": {
        **_DURATION,
        "description": 'With a key: starts within the window ("5s") collapse into one run '
        "that starts when it closes, with the last arguments.",
    },
    "delay": {**_DURATION, "description": 'Start no sooner than this ("10m", seconds).'},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
            "run_status": {
                "type": "string",
                "description": "The run's status, when it is why the request was refused (409).",
            },
        },
    },
    "RunError": {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "code": {"type": "string"},
            "type": {"type": "string"},
        },
    },
    "Run": {
        "type": "object",
        "required": ["run_id", "workflow_id", "status", "created_at"],
        "properties": {
            "run_id": {"type": "string"},
            "workflow_id": {"type": "string"},
            "status": _STATUS,
            "created_at": {"type": "number"},
            "started_at": {"type": "number", "nullable": True},
            "completed_at": {"type": "number", "nullable": True},
            "deployment_id": {
                "type": "string",
                "nullable": True,
                "description": "The code version the run is on (WDK_DEPLOYMENT_ID, or a hash "
                "of its workflow code).",
            },
            "forked_from": {
                "type": "string",
                "nullable": True,
                "description": "The run this one was forked from.",
            },
            "queue": {
                "type": "string",
                "nullable": True,
                "description": "The flow-control queue it was started on (docs/flow-control.md).",
            },
            "queue_key": {"type": "string", "nullable": True},
            "priority": {"type": "integer"},
            "output": {"description": "The return value as JSON (completed runs)."},
            "error": _ref("RunError"),
            "blocked": _ref("RunBlock"),
        },
    },
    "RunBlock": {
        "type": "object",
        "description": "Why a blocked run is parked: its code diverged from its log at "
        "`event`, or its workflow or a step is not registered on the worker that tried it.",
        "properties": {
            "message": {"type": "string"},
            "code": {
                "type": "string",
                "enum": ["REPLAY_DIVERGENCE", "WORKFLOW_NOT_REGISTERED", "STEP_NOT_REGISTERED", ""],
            },
            "event": {"type": "integer", "nullable": True},
            "location": {"type": "string", "description": "The user's file:line, or empty."},
        },
    },
    "Retried": {
        "type": "object",
        "required": ["run_id", "status"],
        "properties": {"run_id": {"type": "string"}, "status": {"type": "string"}},
    },
    "Forked": {
        "type": "object",
        "required": ["run_id", "forked_from"],
        "properties": {"run_id": {"type": "string"}, "forked_from": {"type": "string"}},
    },
    "RunPage": {
        "type": "object",
        "required": ["runs", "cursor"],
        "properties": {
            "runs": {"type": "array", "items": _ref("Run")},
            "cursor": {"type": "string", "nullable": True},
        },
    },
    "Started": {
        "type": "object",
        "required": ["run_id", "workflow_id"],
        "properties": {"run_id": {"type": "string"}, "workflow_id": {"type": "string"}},
    },
    "Hook": {
        "type": "object",
        "required": ["token", "run_id", "kind"],
        "properties": {
            "token": {"type": "string"},
            "run_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["hook", "webhook"]},
            "metadata": {},
            "created_at": {"type": "number"},
            "url": {"type": "string"},
        },
    },
    "Resumed": {
        "type": "object",
        "required": ["run_id"],
        "properties": {"run_id": {"type": "string"}, "token": {"type": "string"}},
    },
}

_WEBHOOK_OP = {
    "summary": "Deliver an HTTP request to a webhook (any method; no bearer token needed)",
    "parameters": [_TOKEN],
    "responses": {
        "200": {"description": "The response a step gave (respond_with='manual')."},
        "202": {"description": "Stored; the workflow will see it (default mode)."},
        "404": {"description": "Unknown or released token, or not a webhook; empty body."},
        "413": _error("Body too large."),
        "502": {"description": "The run ended without answering (manual mode)."},
        "504": {"description": "No answer within the timeout (manual mode)."},
        "default": {"description": "The webhook's static response."},
    },
}

_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Liveness",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The server is up.")},
        }
    },
    "/api/workflows/{workflow_id}/runs": {
        "post": {
            "summary": "Start a run",
            "description": "workflow_id is the full ID (workflow//<file>//<name>), URL-encoded.",
            "parameters": [
                {
                    "name": "workflow_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": False,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "args": {"type": "array", "items": {}},
                                "run_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                                **_FLOW_FIELDS,
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "201": _json(_ref("Started"), "Started."),
                "200": _json(
                    _ref("Started"),
                    "A run with this run_id already exists, or the start landed on an"
                    " unfinished run (a dedupe_key match, or a debounce).",
                ),
                "400": _error("Bad body or arguments."),
                "401": _UNAUTHORIZED,
                "404": _error("No such workflow."),
                "409": _error("run_id is taken by another workflow's run."),
                "413": _error("Body too large."),
            },
        }
    },
    "/api/runs": {
        "get": {
            "summary": "List runs, newest first",
            "parameters": [
                {"name": "workflow", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": _STATUS},
                {
                    "name": "deployment",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "Only runs on this deployment.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                },
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _json(_ref("RunPage"), "A page of runs."),
                "400": _error("Bad filter or cursor."),
                "401": _UNAUTHORIZED,
            },
        }
    },
    "/api/runs/{run_id}": {
        "get": {
            "summary": "Show a run",
            "parameters": [_RUN_ID],
            "responses": {
                "200": _json(_ref("Run"), "The run."),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
            },
        }
    },
    "/api/runs/{run_id}/cancel": {
        "post": {
            "summary": "Cancel a run (idempotent)",
            "parameters": [_RUN_ID],
            "responses": {
                "200": _json(_ref("Run"), "The run after cancelling."),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
            },
        }
    },
    "/api/runs/{run_id}/retry": {
        "post": {
            "summary": "Try a blocked run again now",
            "description": "A blocked run's status goes back to running and its work is "
            "queued again; a worker with code that matches its log (or has the missing "
            "workflow or step) then finishes it, otherwise it is blocked again.",
            "parameters": [_RUN_ID],
            "responses": {
                "200": _json(_ref("Retried"), "The run is running again."),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
                "409": _error("The run is not blocked (status says what it is)."),
            },
        }
    },
    "/api/runs/{run_id}/fork": {
        "post": {
            "summary": "Start a new run reusing a run's first steps",
            "description": "A new run of the same workflow and input that reuses the recorded "
            "results of the run's first `from_step` completed steps (default: every step "
            "completed before the first failed one) and runs the rest on the current code. "
            "The new run records `forked_from`.",
            "parameters": [_RUN_ID],
            "requestBody": {
                "required": False,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "from_step": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "maximum": 2147483647,
                                    "nullable": True,
                                },
                            },
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    **_json(_ref("Forked"), "The new run."),
                    "headers": {"x-workflow-run-id": {"schema": {"type": "string"}}},
                },
                "400": _error(
                    "Bad body: not an object, an unknown field, from_step not an integer >= 0."
                ),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
                "409": _error(
                    "from_step is more than the run's completed steps, or the run "
                    "has nothing to fork from."
                ),
                "413": _error("Body too large."),
            },
        }
    },
    "/api/runs/{run_id}/hooks": {
        "get": {
            "summary": "A run's live hooks and webhooks",
            "parameters": [_RUN_ID],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"hooks": {"type": "array", "items": _ref("Hook")}},
                    },
                    "Live hooks, oldest first.",
                ),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
            },
        }
    },
    "/api/runs/{run_id}/stream": {
        "get": {
            "summary": "Follow a run stream as Server-Sent Events",
            "description": "One event per chunk: `id: <index>`, `data: <JSON>`; ends with "
            "`event: end` once the stream is closed or the run ended.",
            "parameters": [
                _RUN_ID,
                {"name": "namespace", "in": "query", "schema": {"type": "string"}},
                {"name": "startIndex", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {
                    "description": "The event stream.",
                    "headers": {
                        "x-workflow-run-id": {"schema": {"type": "string"}},
                        "x-workflow-stream-tail-index": {"schema": {"type": "integer"}},
                    },
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "400": _error("Bad startIndex."),
                "401": _UNAUTHORIZED,
                "404": _error("No such run."),
            },
        }
    },
    "/api/hooks/{token}": {
        "get": {
            "summary": "The live hook holding a token",
            "parameters": [_TOKEN],
            "responses": {
                "200": _json(_ref("Hook"), "The hook."),
                "401": _UNAUTHORIZED,
                "404": _error("No live hook has the token."),
            },
        },
        "post": {
            "summary": "Resume a hook with a JSON payload",
            "parameters": [_TOKEN],
            "requestBody": {"required": True, "content": {_JSON: {"schema": {}}}},
            "responses": {
                "200": _json(_ref("Resumed"), "Delivered."),
                "400": _error("Not JSON, or the hook's schema rejected it (see errors)."),
                "401": _UNAUTHORIZED,
                "404": _error("No live hook has the token."),
                "409": _error("The token is a webhook's."),
                "413": _error("Body too large."),
            },
        },
    },
    "/.well-known/workflow/v1/webhook/{token}": {
        method: {**_WEBHOOK_OP, "security": []}
        for method in ("get", "post", "put", "patch", "delete")
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the wdk HTTP API (a fresh copy)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "wdk", "version": "1", "description": "wdk runs, hooks and streams."},
        "paths": copy.deepcopy(_PATHS),
        "components": {
            "schemas": copy.deepcopy(_SCHEMAS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
