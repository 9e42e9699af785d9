"""Webhooks in workflow code: ``create_webhook()``, ``Webhook`` and ``WebhookRequest``.

A webhook is a hook of kind ``"webhook"`` whose payloads are HTTP requests. ``wdk serve``
answers ``/.well-known/workflow/v1/webhook/{token}`` for any method: it turns the request into
a :class:`WebhookRequest`, delivers it to the run like ``resume_hook`` does, and answers the
caller according to the webhook's ``respond_with`` mode:

* ``None`` (default): ``202 Accepted`` as soon as the request is stored;
* a :class:`wdk.Response`: that response, as soon as the request is stored;
* ``"manual"``: the caller waits until a step calls ``await request.respond_with(...)``.

How the manual answer travels: every request gets a random ``request_id``; ``respond_with``
(only allowed in a step, because it is I/O) writes the encoded response as chunk 0 of the run
stream ``__wdk_webhook__/<request_id>``, the answering step's id and attempt as chunk 1, and
closes it. A retry of that step answering again is a no-op (the first answer stands). The
server waits on that stream with the world's change notification (no polling loop), so the
answer may come from any worker process. Streams whose namespace starts with ``__wdk_`` are
reserved for wdk.

The webhook's mode lives in the hook's stored metadata, wrapped in a :class:`HookMeta`
envelope so the server can read it; ``define_hook`` hooks use the same envelope to record the
import path of their schema. Plain ``create_hook`` metadata is stored as given.
"""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from wdk._context import current, current_or_none
from wdk._http import Response
from wdk.errors import WorkflowError
from wdk.worlds._default import get_world

T = TypeVar("T")

__all__ = [
    "WEBHOOK_PATH",
    "Hook",
    "HookMeta",
    "Webhook",
    "WebhookRequest",
    "create_typed_hook",
    "create_webhook",
    "response_namespace",
    "schema_path",
    "unwrap_metadata",
]


class Hook(Generic[T]):
    """A point where a run waits for payloads sent with ``resume_hook(token, payload)``.

    ``await hook`` gives the next payload; ``async for payload in hook`` gives every payload.
    Payloads that arrive before the workflow awaits are kept, in order. A typed hook
    (``define_hook(Schema).create(...)``) passes every payload through ``convert`` (the
    schema's validation), so the workflow gets a ``Schema`` instance whichever way the payload
    was delivered, and a payload that does not fit raises ``HookPayloadError`` here.
    """

    _guarded_writes = True

    def __init__(self, ctx: Any, cmd: Any, convert: Callable[[Any], Any] | None = None) -> None:
        self._ctx = ctx
        self._cid = cmd.cid
        self._convert = convert
        self.token: str = cmd.name

    def __await__(self) -> Generator[Any, None, T]:
        if self._convert is None:
            return self._ctx.next_payload(self._cid).__await__()  # type: ignore[no-any-return]
        return self.__anext__().__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        value: T = await self._ctx.next_payload(self._cid)
        if self._convert is not None:
            value = self._convert(value)
        return value

    def dispose(self) -> None:
        """Release the token now (it is released when the run ends anyway)."""
        self._ctx.dispose_hook(self._cid)


#: The URL path prefix webhooks are served under (the token follows).
WEBHOOK_PATH = "/.well-known/workflow/v1/webhook/"

#: Stream namespaces with this prefix are reserved for wdk's own use.
RESERVED_PREFIX = "__wdk_"


def response_namespace(request_id: str) -> str:
    """The run stream a manual webhook response for ``request_id`` is written to."""
    return f"{RESERVED_PREFIX}webhook__/{request_id}"


@dataclass(frozen=True)
class HookMeta:
    """What wdk stores as a hook's metadata when it needs more than the user's metadata.

    ``user`` is the metadata the workflow passed; ``schema`` the import path
    (``module:qualname``) of a ``define_hook`` schema; ``webhook`` the webhook's response
    mode (``"default"``, ``"static"`` or ``"manual"``) and ``response`` its static response.
    """

    user: Any = None
    schema: str | None = None
    webhook: str | None = None
    response: Response | None = None

    def __wdk_serialize__(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "schema": self.schema,
            "webhook": self.webhook,
            "response": self.response,
        }

    @classmethod
    def __wdk_deserialize__(cls, data: dict[str, Any]) -> HookMeta:
        return cls(
            user=data.get("user"),
            schema=data.get("schema"),
            webhook=data.get("webhook"),
            response=data.get("response"),
        )


def unwrap_metadata(value: Any) -> tuple[Any, HookMeta]:
    """``(user metadata, envelope)`` of a decoded hook metadata value."""
    if isinstance(value, HookMeta):
        return value.user, value
    return value, HookMeta(user=value)


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP request delivered to a webhook.

    ``headers`` keys are lower-case; ``body`` is the raw bytes. ``respond_with`` answers the
    HTTP caller of a ``respond_with="manual"`` webhook and is only allowed in a step.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    run_id: str = ""
    request_id: str = ""

    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    async def respond_with(self, response: Response) -> None:
        """Answer the waiting HTTP caller with ``response`` (in a step; once per request).

        Retry-safe: when a retry of the step that answered (same ``step_id``, a later
        attempt) answers again, the first answer stands and the call does nothing, so the
        step's own error, if it fails again, is what the run reports.

        Raises:
            WorkflowError: called from workflow code, outside a step, for a request that
                cannot be answered, or a second time (by another step, or twice in one
                attempt).
        """
        from wdk.runtime._metadata import _step

        step = _step.get()
        if current_or_none() is not None or step is None:
            raise WorkflowError(
                "request.respond_with() can only be called inside a step: answering an HTTP "
                "request is I/O. Pass the request to a 'use step' function and respond there."
            )
        if not isinstance(response, Response):
            raise WorkflowError(
                f"respond_with() takes a wdk.Response, not {type(response).__name__}"
            )
        if not self.run_id or not self.request_id:
            raise WorkflowError("this webhook request was not delivered by wdk; nobody waits")
        from wdk import serde

        world = get_world()
        namespace = response_namespace(self.request_id)
        info = await world.stream_info(self.run_id, namespace)
        if info.closed or info.tail_index >= 0:
            if step.attempt > 1 and await self._answered_by(step.step_id, step.attempt):
                return  # an earlier attempt of this step answered: that answer stands
            raise WorkflowError(
                f"webhook request {self.request_id} was already answered; a request gets one "
                "answer (call respond_with once, from one step)"
            )
        # Chunk 0 is the answer the waiting caller reads; chunk 1 records who answered, so
        # a retry of the same step can tell its own earlier answer from another step's.
        await world.write_chunk(self.run_id, namespace, serde.encode(response, path="response"))
        author = {"step_id": step.step_id, "attempt": step.attempt}
        await world.write_chunk(self.run_id, namespace, serde.encode(author, path="author"))
        await world.close_stream(self.run_id, namespace)

    async def _answered_by(self, step_id: str, attempt: int) -> bool:
        """Whether an earlier attempt of step ``step_id`` wrote this request's answer.

        An answer without an author record (the attempt died between the two writes) is
        taken as this step's: only a retry gets here, and the step was answering.
        """
        from wdk import serde

        world = get_world()
        chunks = await world.read_chunks(self.run_id, response_namespace(self.request_id), 1, 1)
        if not chunks:
            return True
        author = serde.decode(chunks[0].data)
        return (
            isinstance(author, dict)
            and author.get("step_id") == step_id
            and int(author.get("attempt", attempt)) < attempt
        )

    def __wdk_serialize__(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body,
            "run_id": self.run_id,
            "request_id": self.request_id,
        }

    @classmethod
    def __wdk_deserialize__(cls, data: Mapping[str, Any]) -> WebhookRequest:
        return cls(
            method=data["method"],
            url=data["url"],
            headers=dict(data.get("headers") or {}),
            body=bytes(data.get("body") or b""),
            run_id=data.get("run_id", ""),
            request_id=data.get("request_id", ""),
        )


class Webhook(Hook[WebhookRequest]):
    """A hook reachable over HTTP at :attr:`url`.

    ``await webhook`` gives the next :class:`WebhookRequest`; ``async for request in
    webhook`` gives every one.
    """

    def __init__(self, ctx: Any, cmd: Any, url: str) -> None:
        super().__init__(ctx, cmd)
        self.url = url

    def __await__(self) -> Generator[Any, None, WebhookRequest]:
        return super().__await__()

    def __aiter__(self) -> AsyncIterator[WebhookRequest]:
        return self


def create_webhook(*, respond_with: Response | str | None = None) -> Webhook:
    """Create a webhook in workflow code.

    Args:
        respond_with: ``None`` answers callers ``202 Accepted``; a :class:`wdk.Response` is
            sent as is; ``"manual"`` makes callers wait for a step to call
            ``await request.respond_with(response)``.

    The URL is ``{base}/.well-known/workflow/v1/webhook/{token}`` where ``base`` is the base
    URL of the worker running the workflow (``wdk serve`` uses ``WDK_BASE_URL``, else the
    address it is bound to); a worker without one gives the path alone.
    """
    if respond_with is None:
        meta = HookMeta(webhook="default")
    elif isinstance(respond_with, Response):
        meta = HookMeta(webhook="static", response=respond_with)
    elif respond_with == "manual":
        meta = HookMeta(webhook="manual")
    else:
        raise WorkflowError(
            f"create_webhook(respond_with=...) takes None, a wdk.Response or 'manual', "
            f"not {respond_with!r}"
        )
    ctx: Any = current("create_webhook()")
    cmd = ctx.create_hook(None, meta, "webhook")
    base = str(getattr(ctx, "_base_url", "") or "").rstrip("/")
    return Webhook(ctx, cmd, f"{base}{WEBHOOK_PATH}{cmd.name}")


def schema_path(schema: Any) -> str | None:
    """``module:qualname`` of a ``define_hook`` schema class, or None when it has no path.

    Only module-level classes (and classes nested in them) have one; for those the server
    imports the schema and validates payloads sent to ``POST /api/hooks/{token}``.
    """
    module = getattr(schema, "__module__", None)
    qualname = getattr(schema, "__qualname__", None)
    if not isinstance(schema, type) or not module or not qualname or "<locals>" in qualname:
        return None
    return f"{module}:{qualname}"


def create_typed_hook(
    schema: Any, *, token: str | None, metadata: Any, convert: Callable[[Any], Any]
) -> Hook[Any]:
    """``define_hook(schema).create(...)``: a hook whose metadata records the schema's path.

    ``convert`` (the schema's validation) is applied to each payload the workflow receives.
    """
    path = schema_path(schema)
    ctx: Any = current("create_hook()")
    meta: Any = HookMeta(user=metadata, schema=path) if path else metadata
    cmd = ctx.create_hook(token, meta, "hook")
    return Hook(ctx, cmd, convert)
