"""The webhook route: ``/.well-known/workflow/v1/webhook/{token}``, any method.

A thin Starlette adapter around the framework-free :func:`wdk._delivery.resume_webhook`
(which the client's ``wdk.api.resume_webhook`` calls too).
"""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from wdk._delivery import DEFAULT_TIMEOUT, resume_webhook
from wdk._http import Response
from wdk._webhooks import WebhookRequest
from wdk.serde._json import safe_text
from wdk.server._http import read_body

__all__ = ["DEFAULT_TIMEOUT", "resume_webhook", "webhook_route"]

log = logging.getLogger("wdk.server")

# RFC 9110 field names are tokens; values are visible latin-1 text with spaces and tabs.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def _unsendable(answer: Response) -> str | None:
    """Why ``answer`` (a step's value, stored in the run) cannot go out as HTTP, or None."""
    if not 100 <= answer.status <= 599:
        return f"status {safe_text(answer.status)} is not an HTTP status (100-599)"
    for name, value in answer.headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            return f"header name {safe_text(name)!r} is not a valid HTTP field name"
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            return (
                f"header {name!r} has a value with line breaks, control or non-latin-1 characters"
            )
    return None


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
    problem = _unsendable(answer)
    if problem is not None:
        # The caller is owed an answer either way; the workflow's author needs the reason.
        # (The token is a capability: it stays out of the log.)
        log.warning("a webhook's response from its workflow cannot be sent: %s", problem)
        return HttpResponse(
            f"the workflow's response to this webhook request cannot be sent: {problem}\n",
            status_code=502,
            media_type="text/plain",
        )
    return HttpResponse(answer.body, status_code=answer.status, headers=answer.headers or None)
