"""Delivering to hooks from outside a workflow: payloads, typed payloads, HTTP requests.

The client (``wdk.api.resume_hook``, ``resume_webhook``), ``define_hook(...).resume`` and the
server (``POST /api/hooks/{token}``, the webhook route) all deliver through here, so there is
one code path per kind of delivery, below every one of its callers.

How a typed hook's schema is found: ``define_hook(Model).create(...)`` stores the schema's
import path (``module:qualname``) in the hook's metadata envelope (:class:`HookMeta`). Here
the path is imported (user modules resolve through the worker's project, like steps do) and
the payload validated with pydantic before anything is written. Plain ``create_hook`` hooks
take any payload. Webhook tokens are refused there: a webhook only accepts HTTP requests at
its URL (:func:`resume_webhook`, framework-free: it takes a :class:`~wdk.WebhookRequest` and
returns a :class:`~wdk.Response`, so any web framework can mount webhooks).

Webhook answers, by the webhook's ``respond_with`` mode:

* unknown or released token, or a plain hook's token: 404 with an empty body;
* ``respond_with=None``: 202 with an empty body once the request is stored;
* ``respond_with=Response(...)``: that response once the request is stored;
* ``respond_with="manual"``: wait until a step calls ``request.respond_with(...)`` (see
  :mod:`wdk._webhooks` for how the answer travels); after ``timeout`` seconds 504, and 502
  when the run ends without answering.
"""

from __future__ import annotations

import importlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from wdk import serde
from wdk._http import Response
from wdk._webhooks import HookMeta, WebhookRequest, response_namespace, unwrap_metadata
from wdk.errors import HookNotFoundError, HookPayloadError, WorkflowError
from wdk.runtime._keys import wf_message
from wdk.worlds._default import ready
from wdk.worlds.base import EventType, HookInfo, NewEvent, RunStatus, World

__all__ = [
    "DEFAULT_TIMEOUT",
    "HookResumeResult",
    "SchemaLoadError",
    "TypedPayload",
    "WebhookTokenError",
    "decode_hook",
    "deliver_payload",
    "payload_schema",
    "resume_checked",
    "resume_webhook",
]


@dataclass(frozen=True, slots=True)
class HookResumeResult:
    """What ``resume_hook`` did: which run the payload went to."""

    run_id: str


class WebhookTokenError(WorkflowError):
    """The token belongs to a webhook: send HTTP requests to its URL instead."""


class SchemaLoadError(WorkflowError):
    """The hook's recorded schema could not be imported."""


class TypedPayload:
    """Validates payloads against a ``define_hook`` schema (pydantic)."""

    def __init__(self, schema: Any) -> None:
        from pydantic import TypeAdapter

        self.schema = schema
        self._adapter: Any = TypeAdapter(schema)

    def json_schema(self) -> dict[str, Any]:
        """The schema as JSON Schema (what the web UI builds its resume form from)."""
        schema: dict[str, Any] = self._adapter.json_schema()
        return schema

    def validate(self, payload: Any) -> Any:
        """The payload validated against the schema, or ``HookPayloadError``."""
        from pydantic import ValidationError

        try:
            return self._adapter.validate_python(payload)
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors
            )
            raise HookPayloadError(f"hook payload rejected: {details}", errors=errors) from None


async def deliver_payload(world: World, token: str, payload: Any) -> HookResumeResult:
    """Deliver ``payload`` as is to the live hook holding ``token`` (no schema applied)."""
    hook = await world.get_hook_by_token(token)
    if hook is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    data = serde.encode({"at": time.time(), "payload": payload}, path="payload")
    delivered = await world.deliver_hook(
        token,
        [NewEvent(EventType.HOOK_RECEIVED, hook.correlation_id, data)],
        enqueue=[wf_message(hook.run_id)],
    )
    if delivered is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    return HookResumeResult(run_id=delivered.run_id)


_definitions: dict[str, Any] = {}


def decode_hook(hook: HookInfo) -> tuple[Any, HookMeta]:
    """``(user metadata, envelope)`` of a stored hook."""
    value = serde.decode(hook.metadata) if hook.metadata else None
    return unwrap_metadata(value)


def _definition(path: str) -> Any:
    found = _definitions.get(path)
    if found is not None:
        return found
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        definition: Any = TypedPayload(obj)
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot validate
        raise SchemaLoadError(
            f"cannot load the hook's schema {path!r}: {type(exc).__name__}: {exc}"
        ) from None
    _definitions[path] = definition
    return definition


def payload_schema(path: str) -> dict[str, Any]:
    """The JSON Schema of the ``define_hook`` schema recorded as ``path`` (``module:qualname``).

    Raises:
        SchemaLoadError: the schema cannot be imported.
    """
    schema: dict[str, Any] = _definition(path).json_schema()
    return schema


async def resume_checked(world: World, token: str, payload: Any) -> HookResumeResult:
    """Validate ``payload`` against the hook's schema (if any) and deliver it.

    Raises:
        HookNotFoundError: no live hook holds ``token``.
        WebhookTokenError: the token is a webhook's.
        HookPayloadError: the schema rejected the payload (nothing was stored).
        SchemaLoadError: the schema recorded for the hook cannot be imported.
    """
    hook = await world.get_hook_by_token(token)
    if hook is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    if hook.kind == "webhook":
        raise WebhookTokenError(
            f"token {token!r} belongs to a webhook; send HTTP requests to its URL instead"
        )
    _, meta = decode_hook(hook)
    if meta.schema:
        payload = _definition(meta.schema).validate(payload)
    return await deliver_payload(world, token, payload)


#: Seconds a ``respond_with="manual"`` caller waits for the step's answer.
DEFAULT_TIMEOUT = 30.0

_NOT_FOUND = Response(b"", status=404)


async def resume_webhook(
    token: str,
    request: WebhookRequest,
    *,
    world: World | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Response:
    """Deliver an HTTP request to the webhook holding ``token``; the response to send back.

    ``world`` defaults to the process default world. Never raises for an unknown token: the
    answer is then a 404 with an empty body, as the HTTP route gives.
    """
    world = await ready(world)
    hook = await world.get_hook_by_token(token)
    if hook is None or hook.kind != "webhook":
        return _NOT_FOUND
    _, meta = decode_hook(hook)
    request_id = secrets.token_hex(16)
    delivered = WebhookRequest(
        method=request.method,
        url=request.url,
        headers=dict(request.headers),
        body=request.body,
        run_id=hook.run_id,
        request_id=request_id,
    )
    try:
        await deliver_payload(world, token, delivered)
    except HookNotFoundError:
        return _NOT_FOUND
    if meta.webhook == "static" and meta.response is not None:
        return meta.response
    if meta.webhook != "manual":
        return Response(b"", status=202)
    return await _wait_for_answer(world, hook.run_id, request_id, timeout)


async def _wait_for_answer(world: World, run_id: str, request_id: str, timeout: float) -> Response:
    namespace = response_namespace(request_id)
    topics = [f"stream:{run_id}:{namespace}", f"done:{run_id}"]
    deadline = time.monotonic() + timeout
    while True:
        chunks = await world.read_chunks(run_id, namespace, 0, 1)
        if chunks:
            answer = serde.decode(chunks[0].data)
            if isinstance(answer, Response):
                return answer
            return _plain(500, "the webhook's answer could not be read")
        run = await world.get_run(run_id)
        if run is None or run.status in RunStatus.TERMINAL:
            if await world.read_chunks(run_id, namespace, 0, 1):
                continue
            return _plain(502, f"run {run_id} ended without responding to this webhook request")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _plain(
                504,
                f"run {run_id} did not respond to this webhook request within {timeout:g}s "
                "(its webhook uses respond_with='manual': a step must call "
                "request.respond_with(...))",
            )
        await world.wait_for_change(topics, remaining)


def _plain(status: int, text: str) -> Response:
    return Response(
        text + "\n", status=status, headers={"content-type": "text/plain; charset=utf-8"}
    )
