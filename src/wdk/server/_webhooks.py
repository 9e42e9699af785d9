"""The HTTP bridge for webhooks: ``/.well-known/workflow/v1/webhook/{token}``, any method.

:func:`resume_webhook` is framework-free (it takes a :class:`~wdk.WebhookRequest` and returns
a :class:`~wdk.Response`), so any web framework can mount webhooks; the Starlette route below
is a thin adapter around it.

* unknown or released token, or a plain hook's token: 404 with an empty body;
* ``respond_with=None``: 202 with an empty body once the request is stored;
* ``respond_with=Response(...)``: that response once the request is stored;
* ``respond_with="manual"``: wait until a step calls ``request.respond_with(...)`` (see
  :mod:`wdk._webhooks` for how the answer travels); after ``timeout`` seconds 504, and 502
  when the run ends without answering.
"""

from __future__ import annotations

import secrets
import time

from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from wdk import serde
from wdk._http import Response
from wdk._webhooks import WebhookRequest, response_namespace
from wdk.api import resume_hook
from wdk.errors import HookNotFoundError
from wdk.server._http import read_body
from wdk.server._resume import decode_hook
from wdk.worlds.base import RunStatus, World

__all__ = ["DEFAULT_TIMEOUT", "resume_webhook", "webhook_route"]

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
    from wdk.api._client import _ready

    world = await _ready(world)
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
        await resume_hook(token, delivered, world=world)
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


async def webhook_route(request: Request) -> HttpResponse:
    """The Starlette endpoint for ``/.well-known/workflow/v1/webhook/{token}``."""
    state = request.app.state.wdk
    token = request.path_params["token"]
    body = await read_body(request, state.config.max_body)
    incoming = WebhookRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    answer = await resume_webhook(
        token, incoming, world=state.world, timeout=state.config.webhook_timeout
    )
    return HttpResponse(answer.body, status_code=answer.status, headers=answer.headers or None)
