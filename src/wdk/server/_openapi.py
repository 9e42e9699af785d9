"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from the body models.

The schemas come from :mod:`wdk.server._models` (pydantic's JSON Schema is JSON Schema 2020-12,
which is what OpenAPI 3.1 uses, so they go in unchanged). What pydantic cannot know about a
route (its path, method, parameters, status codes and what each means) is the small table
:data:`OPERATIONS` below. :func:`openapi_document` keeps the operations the app actually
serves, so a route that is not mounted is not documented; a test checks the other direction
(every served ``/api`` route has an operation here) and validates live responses against the
document.

Bearer security is declared only when the server has a token: a document that asked for one
an open server does not want would make clients (and Swagger UI) send it for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wdk.server import _models as m
from wdk.server import _models_schedules as ms
from wdk.worlds.base import RunStatus

__all__ = ["OPENAPI_VERSION", "OPERATIONS", "Operation", "Param", "Reply", "openapi_document"]

OPENAPI_VERSION = "3.1.0"
_JSON = "application/json"
_SSE = "text/event-stream"
#: One Server-Sent Event as its fields (the shape OpenAPI 3.2 gives ``text/event-stream``
#: items, and the one schemathesis checks each event of a live answer against).
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One Server-Sent Event; `data` is JSON text.",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter of an operation."""

    name: str
    where: str = "query"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""


@dataclass(frozen=True)
class Reply:
    """One documented response: its body model (None: no JSON body) and what it means."""

    description: str
    model: type[BaseModel] | None = m.ErrorBody
    media_type: str = _JSON
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    """One route and method of the API, with what the models cannot say about it."""

    method: str
    path: str
    summary: str
    replies: dict[str, Reply]
    description: str = ""
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = False
    #: the body is the caller's own JSON (a hook payload): any JSON value
    free_body: bool = False
    #: outside ``/api``: never behind the bearer token
    public: bool = False
    tags: tuple[str, ...] = ()


_RUN_ID = Param("run_id", "path", description="The run's id (wrun_<ULID> unless chosen at start).")
_TOKEN = Param("token", "path", description="The hook's token.")
_NO_RUN = Reply("No run has this id.")
_SCHEDULE_ID = Param("schedule_id", "path", description="The id given to wdk.schedule(...).")
_NO_SCHEDULE = Reply("No schedule has this id.")
_TOO_LARGE = Reply("The body is over the server's --max-body.")
_STATUS = {"type": "string", "enum": list(RunStatus.ALL)}
_RUN_HEADER = "x-workflow-run-id"
_TAIL_HEADER = "x-workflow-stream-tail-index"
_HEADERS = {
    _RUN_HEADER: {"description": "The run's id.", "schema": {"type": "string"}},
    _TAIL_HEADER: {
        "description": "The stream's last index when the reader connected (-1: empty).",
        "schema": {"type": "integer"},
    },
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/healthz",
        "Liveness",
        {"200": Reply("The server is up.", m.Health)},
        public=True,
        tags=("server",),
    ),
    Operation(
        "post",
        "/api/workflows/{workflow_id}/runs",
        "Start a run",
        {
            "201": Reply("Started.", m.Started, headers=(_RUN_HEADER,)),
            "200": Reply(
                "A run with this run_id already exists (idempotent start), or the start "
                "landed on an unfinished run of its queue (a dedupe_key match, a debounce).",
                m.Started,
                headers=(_RUN_HEADER,),
            ),
            "400": Reply(
                "The body is not JSON or was rejected (errors names the fields), or its "
                "flow-control options were (an unknown queue, key without queue, a bad "
                "duration): nothing is written."
            ),
            "404": Reply("No such workflow."),
            "409": Reply("run_id is taken by another workflow's run."),
            "413": _TOO_LARGE,
        },
        description="workflow_id is the full id (workflow//<file>.py//<name>), URL-encoded "
        "(workflow%2F%2Forders.py%2F%2Fprocess_order): proxies may merge `//`.",
        params=(Param("workflow_id", "path", description="The workflow's full id."),),
        body=m.StartRunRequest,
        tags=("runs",),
    ),
    Operation(
        "get",
        "/api/runs",
        "List runs, newest first",
        {"200": Reply("A page of runs.", m.RunPage), "400": Reply("Bad filter or cursor.")},
        params=(
            Param("workflow", description="Only runs of this workflow id."),
            Param("status", schema=_STATUS, description="Only runs with this status."),
            Param("deployment", description="Only runs on this deployment."),
            Param("prefix", description="Only runs whose id starts with this."),
            Param(
                "limit",
                schema={"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
            ),
            Param("cursor", description="The cursor of the previous page."),
        ),
        tags=("runs",),
    ),
    Operation(
        "get",
        "/api/runs/feed",
        "The first page of the runs list, live (Server-Sent Events)",
        {
            "200": Reply(
                "`event: runs` with a RunPage as `data`, at once and again whenever the page "
                "changes; `:` lines are keep-alives.",
                None,
                media_type=_SSE,
            ),
            "400": Reply("Bad filter."),
        },
        params=(
            Param("workflow", description="Only runs of this workflow id."),
            Param("status", schema=_STATUS, description="Only runs with this status."),
            Param("prefix", description="Only runs whose id starts with this."),
            Param(
                "limit",
                schema={"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
            ),
        ),
        tags=("ui",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}",
        "Show a run",
        {"200": Reply("The run.", m.Run), "404": _NO_RUN},
        params=(_RUN_ID,),
        tags=("runs",),
    ),
    Operation(
        "post",
        "/api/runs/{run_id}/cancel",
        "Cancel a run (idempotent; a finished run keeps its status)",
        {"200": Reply("The run after cancelling.", m.Run), "404": _NO_RUN},
        params=(_RUN_ID,),
        tags=("runs",),
    ),
    Operation(
        "post",
        "/api/runs/{run_id}/retry",
        "Try a blocked run again now",
        {
            "200": Reply("The run is running again.", m.Retried),
            "404": _NO_RUN,
            "409": Reply("The run is not blocked (run_status says what it is)."),
        },
        description="A blocked run's status goes back to running and its work is queued "
        "again; a worker with code that matches its log (or has the missing workflow or step) "
        "then finishes it, otherwise it is blocked again.",
        params=(_RUN_ID,),
        tags=("deploys",),
    ),
    Operation(
        "post",
        "/api/runs/{run_id}/fork",
        "Start a new run reusing a run's first steps",
        {
            "201": Reply("The new run.", m.Forked, headers=(_RUN_HEADER,)),
            "400": Reply("The body is not JSON or was rejected (errors names the fields)."),
            "404": _NO_RUN,
            "409": Reply(
                "from_step is more than the run's completed steps, or the run has nothing "
                "to fork from."
            ),
            "413": _TOO_LARGE,
        },
        description="A new run of the same workflow and input that reuses the recorded "
        "results of the run's first `from_step` completed steps and runs the rest on the "
        "current code. The new run records `forked_from`.",
        params=(_RUN_ID,),
        body=m.ForkRequest,
        tags=("deploys",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/stream",
        "Follow a run stream (Server-Sent Events)",
        {
            "200": Reply(
                "A `retry:` hint, then one event per chunk (`id: <index>`, `data: <JSON>`), "
                'then `event: end` with `data: {"next_index": N}` once the stream is closed '
                "or the run ended. `:` lines are keep-alives.",
                None,
                media_type=_SSE,
                headers=(_RUN_HEADER, _TAIL_HEADER),
            ),
            "400": Reply("Bad startIndex or Last-Event-ID."),
            "404": _NO_RUN,
        },
        params=(
            _RUN_ID,
            Param("namespace", schema={"type": "string", "default": "default"}),
            Param(
                "startIndex",
                schema={"type": "integer", "default": 0},
                description="The first chunk to send; negative counts back from the tail.",
            ),
            Param(
                "Last-Event-ID",
                "header",
                description="The last chunk index received: resume after it (wins over "
                "startIndex).",
            ),
        ),
        tags=("runs",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/hooks",
        "A run's live hooks and webhooks",
        {"200": Reply("Live hooks, oldest first.", m.HookList), "404": _NO_RUN},
        params=(_RUN_ID,),
        tags=("hooks",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/steps",
        "A run's steps, with decoded values, timings and attempts",
        {"200": Reply("The steps, in the order the run made them.", m.StepList), "404": _NO_RUN},
        params=(_RUN_ID,),
        tags=("ui",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/events",
        "A run's event log, with decoded data",
        {
            "200": Reply("A page of events, oldest first.", m.EventPage),
            "400": Reply("Bad after or limit."),
            "404": _NO_RUN,
        },
        params=(
            _RUN_ID,
            Param(
                "after",
                schema={"type": "integer", "minimum": 0, "default": 0},
                description="Only events after this seq (the previous page's cursor).",
            ),
            Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 5000}),
        ),
        tags=("ui",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/streams",
        "A run's streams (namespace, chunks so far, closed)",
        {"200": Reply("The streams, by namespace.", m.StreamList), "404": _NO_RUN},
        params=(_RUN_ID,),
        tags=("ui",),
    ),
    Operation(
        "get",
        "/api/runs/{run_id}/changes",
        "A run's changes, live (Server-Sent Events)",
        {
            "200": Reply(
                "`event: run` with a RunChange as `data`, at once and again whenever the "
                "run's log grows; `:` lines are keep-alives.",
                None,
                media_type=_SSE,
            ),
            "404": _NO_RUN,
        },
        params=(_RUN_ID,),
        tags=("ui",),
    ),
    Operation(
        "get",
        "/api/hooks/{token}",
        "The live hook holding a token",
        {"200": Reply("The hook.", m.Hook), "404": Reply("No live hook has the token.")},
        params=(_TOKEN,),
        tags=("hooks",),
    ),
    Operation(
        "get",
        "/api/hooks/{token}/schema",
        "The JSON Schema a hook's payload must match",
        {
            "200": Reply("The schema (null: any JSON).", m.HookSchema),
            "404": Reply("No live hook has the token."),
        },
        params=(_TOKEN,),
        tags=("hooks",),
    ),
    Operation(
        "post",
        "/api/hooks/{token}",
        "Resume a hook with a JSON payload",
        {
            "200": Reply("Delivered.", m.Resumed),
            "400": Reply("Not JSON, or the hook's schema rejected it (errors names the fields)."),
            "404": Reply("No live hook has the token."),
            "409": Reply("The token is a webhook's: send HTTP requests to its URL instead."),
            "413": _TOO_LARGE,
        },
        description="The body is the payload, any JSON; a hook created with a schema "
        "validates it first, and a rejected payload is never stored.",
        params=(_TOKEN,),
        body_required=True,
        free_body=True,
        tags=("hooks",),
    ),
    Operation(
        "get",
        "/api/schedules",
        "List the schedules",
        {"200": Reply("Every schedule, by id.", ms.ScheduleList)},
        description="The schedules stored in the world: a worker that imported a module "
        "defining `wdk.schedule(...)` stored it.",
        tags=("schedules",),
    ),
    *(
        Operation(
            "post",
            f"/api/schedules/{{schedule_id}}/{action}",
            summary,
            {"200": Reply("The schedule afterwards.", ms.ScheduleView), "404": _NO_SCHEDULE},
            description=description,
            params=(_SCHEDULE_ID,),
            tags=("schedules",),
        )
        for action, summary, description in (
            ("pause", "Pause a schedule", "No run starts for it until it is resumed."),
            (
                "resume",
                "Resume a schedule",
                "Runs start again from its next tick; ticks while it was paused are skipped.",
            ),
        )
    ),
    Operation(
        "post",
        "/api/schedules/{schedule_id}/trigger",
        "Start one run of a schedule now",
        {
            "201": Reply("Started.", ms.Triggered, headers=(_RUN_HEADER,)),
            "404": _NO_SCHEDULE,
        },
        description="Outside its ticks, paused or not; the run counts as the schedule's "
        "latest for `overlap`.",
        params=(_SCHEDULE_ID,),
        tags=("schedules",),
    ),
    *(
        Operation(
            method,
            "/.well-known/workflow/v1/webhook/{token}",
            "Deliver an HTTP request to a webhook (any method; the URL is the capability)",
            {
                "200": Reply("The response a step gave (respond_with='manual').", None),
                "202": Reply("Stored; the workflow will see it (default mode).", None),
                "404": Reply("Unknown or released token, or not a webhook; empty body.", None),
                "413": _TOO_LARGE,
                "502": Reply("The run ended without answering (manual mode).", None),
                "504": Reply("No answer within the timeout (manual mode).", None),
                "default": Reply("The webhook's static response.", None),
            },
            params=(_TOKEN,),
            public=True,
            tags=("webhooks",),
        )
        for method in ("get", "post", "put", "patch", "delete")
    ),
)


def _models(ops: Iterable[Operation]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for op in ops:
        found = [op.body] + [reply.model for reply in op.replies.values()]
        for model in found:
            if model is not None:
                seen.setdefault(model.__name__, model)
    if any(not op.public for op in ops):
        seen.setdefault(m.ErrorBody.__name__, m.ErrorBody)  # the 401 body
    # RunChange is only ever an SSE event's data; list it so clients can find its shape.
    seen.setdefault(m.RunChange.__name__, m.RunChange)
    return [seen[name] for name in sorted(seen)]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "schema": p.schema}
    if p.where == "path":
        out["required"] = True
    if p.description:
        out["description"] = p.description
    return out


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        out["content"] = {reply.media_type: {"schema": _ref(reply.model)}}
    elif reply.media_type == _SSE:
        out["content"] = {_SSE: {"schema": _SSE_EVENT}}
    if reply.headers:
        out["headers"] = {name: _HEADERS[name] for name in reply.headers}
    return out


def _operation(op: Operation, bearer: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}".translate(
            str.maketrans("", "", "{}.-")
        ),
        "summary": op.summary,
    }
    if op.description:
        out["description"] = op.description
    if op.tags:
        out["tags"] = list(op.tags)
    if op.params:
        out["parameters"] = [_param(p) for p in op.params]
    if op.body is not None or op.free_body:
        schema = {} if op.body is None else _ref(op.body)
        out["requestBody"] = {"required": op.body_required, "content": {_JSON: {"schema": schema}}}
    replies = {status: _reply(reply) for status, reply in op.replies.items()}
    if bearer and not op.public:
        replies["401"] = _reply(Reply("Missing or invalid bearer token."))
        out["security"] = [{"bearer": []}]
    out["responses"] = dict(sorted(replies.items()))
    return out


def openapi_document(
    served: Iterable[tuple[str, str]] | None = None, *, bearer: bool = False
) -> dict[str, Any]:
    """The OpenAPI document of the HTTP API (a fresh dict).

    Args:
        served: the ``(method, path)`` pairs the app serves (lower-case methods, paths with
            ``{name}`` parameters); operations not among them are left out. None: all.
        bearer: the server has a token: declare bearer security on the ``/api`` operations
            (and their 401).
    """
    wanted = None if served is None else set(served)
    ops = [op for op in OPERATIONS if wanted is None or (op.method, op.path) in wanted]
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method] = _operation(op, bearer)
    _, schema = models_json_schema(
        [(model, "validation") for model in _models(ops)], ref_template=_REF
    )
    components: dict[str, Any] = {"schemas": schema.get("$defs", {})}
    if bearer:
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's WDK_API_TOKEN (everything under /api needs it).",
            }
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "wdk",
            "version": "1",
            "description": "Runs, hooks, webhooks and streams of a wdk server (`wdk serve`).",
        },
        "paths": paths,
        "components": components,
    }
