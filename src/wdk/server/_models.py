"""The HTTP API's request and response bodies as pydantic models: its one source of truth.

Routes validate request bodies with these models (:func:`parse_body`: a rejected body is
answered 400 ``{"error", "errors": [{"loc", "msg", "type"}]}``, the shape the hook route uses
for payloads its schema rejects), ``/openapi.json`` is generated from them
(:mod:`wdk.server._openapi`), and the tests validate live responses with the response models,
so the document cannot drift from what the server answers.

Request models refuse unknown fields and take JSON types as they are (``strict``: ``"2"`` is
not an integer, ``true`` is not 1). Response models refuse unknown fields too, which is what
makes a test fail when a route answers a field the document does not list; clients should
still ignore fields they do not know, because a later version may add some.

Timestamps are epoch seconds (floats), like the world stores them. Values the workflow code
produced (arguments, results, hook metadata, event data) are decoded to JSON: ``bytes`` become
``{"$bytes": "<base64>"}``, a value without a JSON form ``{"$serde": "<base64>"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from wdk.server._http import ApiError
from wdk.worlds.base import RunStatus

__all__ = [
    "MAX_FROM_STEP",
    "EventPage",
    "EventView",
    "ErrorBody",
    "FieldError",
    "ForkRequest",
    "Forked",
    "Health",
    "Hook",
    "HookList",
    "HookSchema",
    "RequestBody",
    "ResponseBody",
    "Resumed",
    "Retried",
    "Run",
    "RunBlock",
    "RunChange",
    "RunError",
    "RunPage",
    "StartRunRequest",
    "Started",
    "StepAttempt",
    "StepError",
    "StepList",
    "StepView",
    "StreamList",
    "StreamView",
    "parse_body",
]

#: Largest ``from_step`` accepted in a fork body (larger: 400, not a database overflow).
MAX_FROM_STEP = 2**31 - 1

if TYPE_CHECKING:
    RunStatusName = str
else:
    # Built from RunStatus.ALL so a status added there is documented and accepted here too.
    RunStatusName = Literal[RunStatus.ALL]

StepStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
Timestamp = Annotated[float, Field(description="Epoch seconds.")]
RunId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are refused and JSON types taken as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseBody(BaseModel):
    """Base of response bodies: exactly the documented fields (tests validate live answers)."""

    model_config = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------


class StartRunRequest(RequestBody):
    """Body of ``POST /api/workflows/{workflow_id}/runs`` (optional; ``{}`` when absent)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"args": [42, "express"]},
                {"run_id": "order-42"},
                {"args": ["customer-42"], "queue": "reports", "key": "customer-42"},
            ]
        }
    )

    args: list[Any] = Field(
        default_factory=list, description="The workflow's positional arguments, as JSON."
    )
    run_id: RunId | None = Field(
        default=None,
        description="Choose the run's id (1-128 of A-Z a-z 0-9 _ . : -). Starting again with "
        "the same id answers the existing run (200) instead of starting another.",
    )
    # Flow control (docs/flow-control.md): checked further by the start itself (an unknown
    # queue, a key without a queue, a bad duration: 400, nothing written).
    queue: str | None = Field(
        default=None, description="Start on this wdk.Queue (status `queued` until admitted)."
    )
    key: str | None = Field(
        default=None, description="The queue's per-key limit and debounce key (needs queue)."
    )
    priority: int | None = Field(
        default=None,
        ge=-(2**31),
        le=2**31 - 1,
        description="Higher starts first on the queue (default 0; needs queue).",
    )
    dedupe_key: str | None = Field(
        default=None,
        description="While a run with this key is unfinished on the queue, answer that run "
        "(200) instead of starting another (needs queue).",
    )
    debounce: str | float | None = Field(
        default=None,
        description='With queue and key: starts within the window ("5s", or seconds) collapse '
        "into one run that starts when it closes, with the last start's arguments (200 for "
        "the starts that land on it).",
    )
    delay: str | float | None = Field(
        default=None,
        description='Start no sooner than this ("10m", or seconds); with a queue the run '
        "waits `queued`.",
    )


class ForkRequest(RequestBody):
    """Body of ``POST /api/runs/{run_id}/fork`` (optional; ``{}`` when absent)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"from_step": 2}]})

    from_step: Annotated[int, Field(ge=0, le=MAX_FROM_STEP)] | None = Field(
        default=None,
        description="How many completed steps to reuse (default: every step completed "
        "before the first failed one).",
    )


# --- responses: errors ------------------------------------------------------------------


class FieldError(ResponseBody):
    """One rejected field: its path in the body, pydantic's message and error type."""

    loc: list[str | int] = Field(description="Path of the field in the body ([] for the body).")
    msg: str
    type: str


class ErrorBody(ResponseBody):
    """Every error response: ``{"error": "<reason>"}`` with details where they apply."""

    error: str = Field(description="What went wrong, and where.")
    errors: list[FieldError] | None = Field(
        default=None, description="The rejected fields (400 for a body that fails validation)."
    )
    run_status: str | None = Field(
        default=None, description="The run's status, when it is why the request was refused."
    )


class Health(ResponseBody):
    """``GET /healthz``."""

    status: Literal["ok"]


# --- responses: runs --------------------------------------------------------------------


class RunError(ResponseBody):
    """Why a failed run failed (the stack is not served)."""

    message: str
    code: str
    type: str = Field(description="The error's class, as module.Name.")


class RunBlock(ResponseBody):
    """Why a blocked run is parked.

    Its code diverged from its log at ``event``, or its workflow or a step is not
    registered on the worker that tried it.
    """

    message: str
    code: Literal["REPLAY_DIVERGENCE", "WORKFLOW_NOT_REGISTERED", "STEP_NOT_REGISTERED", ""]
    event: int | None = Field(description="The log's seq where the code diverged.")
    location: str = Field(description="The user's file:line, or empty.")


class Run(ResponseBody):
    """A run: ``output`` when completed, ``error`` when failed, ``blocked`` when blocked."""

    run_id: str
    workflow_id: str
    status: RunStatusName
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    deployment_id: str | None = Field(
        description="The code version the run is on (WDK_DEPLOYMENT_ID, or a hash of its "
        "workflow code)."
    )
    forked_from: str | None = Field(description="The run this one was forked from.")
    queue: str | None = Field(
        default=None,
        description="The flow-control queue it was started on (docs/flow-control.md).",
    )
    queue_key: str | None = Field(default=None, description="Its key on that queue.")
    priority: int = Field(default=0, description="Its priority on that queue.")
    output: Any = Field(default=None, description="The return value as JSON (completed runs).")
    error: RunError | None = None
    blocked: RunBlock | None = None


class RunPage(ResponseBody):
    """A page of runs, newest first."""

    runs: list[Run]
    cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class Started(ResponseBody):
    """A started (or, with a known ``run_id``, existing) run."""

    run_id: str
    workflow_id: str


class Retried(ResponseBody):
    """A blocked run put back to work."""

    run_id: str
    status: Literal["running"]


class Forked(ResponseBody):
    """The new run a fork started."""

    run_id: str
    forked_from: str


# --- responses: hooks -------------------------------------------------------------------


class Hook(ResponseBody):
    """A live hook or webhook."""

    token: str
    run_id: str
    kind: Literal["hook", "webhook"]
    metadata: Any = Field(description="The metadata the workflow gave the hook, as JSON.")
    created_at: Timestamp
    url: str | None = Field(default=None, description="Where to send requests (webhooks).")


class HookList(ResponseBody):
    """A run's live hooks, oldest first."""

    hooks: list[Hook]


class Resumed(ResponseBody):
    """A payload delivered to a hook."""

    run_id: str
    token: str


# --- responses: steps and events (the UI's read routes) ---------------------------------


class StepError(ResponseBody):
    """A step attempt's error, with the user's traceback when it was recorded."""

    message: str
    type: str = Field(description="The error's class, as module.Name.")
    stack: str | None = Field(default=None, description="The traceback, when recorded.")


class StepAttempt(ResponseBody):
    """One attempt of a step."""

    attempt: int = Field(ge=1, description="1 for the first attempt.")
    started_at: Timestamp
    ended_at: Timestamp | None = Field(description="Null while the attempt runs.")
    error: StepError | None = Field(default=None, description="Why the attempt failed.")


class StepView(ResponseBody):
    """A step call of a run, with every attempt and its decoded arguments and result."""

    step_id: str = Field(description="step//<file>//<qualname>.")
    name: str = Field(description="The step function's name.")
    correlation_id: str = Field(description="The call's id in the run's log.")
    status: StepStatus
    attempts: list[StepAttempt]
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_ms: float | None = Field(description="From the first start to the end.")
    input: Any = Field(description="The call's arguments, as JSON.")
    output: Any = Field(description="The result as JSON (null until completed).")
    error: StepError | None = Field(description="The final error (failed steps).")


class StepList(ResponseBody):
    """``GET /api/runs/{run_id}/steps``: the run's step calls in the order they were made."""

    steps: list[StepView]


class EventView(ResponseBody):
    """One event of a run's log."""

    seq: int = Field(ge=1, description="1-based, dense per run.")
    type: str = Field(description="run_created, step_started, hook_received...")
    at: Timestamp
    correlation_id: str | None = Field(description="The step, sleep or hook it concerns.")
    data: Any = Field(description="The event's data, decoded to JSON.")


class EventPage(ResponseBody):
    """``GET /api/runs/{run_id}/events``: a page of the run's log, oldest first."""

    events: list[EventView]
    cursor: str | None = Field(
        description="The last seq of this page, to pass as ?after= for the next one; null at "
        "the end."
    )


class HookSchema(ResponseBody):
    """``GET /api/hooks/{token}/schema``: the JSON Schema a typed hook's payload must match."""

    payload_schema: Any = Field(
        alias="schema", description="A JSON Schema, or null when the hook takes any JSON."
    )


class StreamView(ResponseBody):
    """One of a run's streams: its namespace, how many chunks it holds, whether it is closed."""

    namespace: str
    tail_index: int = Field(description="The index the next chunk will get (chunks so far).")
    closed: bool


class StreamList(ResponseBody):
    """``GET /api/runs/{run_id}/streams``: the run's streams, by namespace."""

    streams: list[StreamView]


class RunChange(ResponseBody):
    """An event of ``GET /api/runs/{run_id}/changes``: the run and the last seq of its log."""

    run: Run | None
    seq: int = Field(ge=0, description="The last event's seq (0: no event yet).")


# --- validation -------------------------------------------------------------------------

B = TypeVar("B", bound=RequestBody)


def _reason(model: type[RequestBody], error: Any) -> str:
    """What is wrong with one field, said for the caller rather than for pydantic."""
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        return f"unknown field; allowed: {', '.join(model.model_fields)}"
    if not error["loc"] and error["type"] in ("model_type", "dict_type"):
        return f"must be a JSON object with the fields {', '.join(model.model_fields)}"
    return str(error["msg"])


def parse_body(model: type[B], data: Any) -> B:
    """``data`` (a parsed JSON body; None when the body was empty) validated as ``model``.

    Raises ApiError 400 ``{"error": "request body rejected: <path>: <reason>; ...",
    "errors": [{"loc", "msg", "type"}]}`` naming every rejected field.
    """
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": _reason(model, e), "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in errors
        )
        raise ApiError(400, f"request body rejected: {details}", {"errors": errors}) from None
