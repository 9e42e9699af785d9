"""The webhook route: ``/.well-known/workflow/v1/webhook/{token}``, any method.

A thin Starlette adapter around the framework-free :func:`wdk._delivery.resume_webhook`
(which the client's ``wdk.api.resume_webhook`` calls too).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from wdk._delivery import DEFAULT_TIMEOUT, resume_webhook
from wdk._webhooks import WebhookRequest
from wdk.server._http import read_body

__all__ = ["DEFAULT_TIMEOUT", "resume_webhook", "webhook_route"]


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
