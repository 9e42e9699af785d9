"""Optional bearer-token auth for everything under ``/api``.

When the server has a token (``WDK_API_TOKEN``), a request to ``/api/...`` must carry
``Authorization: Bearer <token>``; the comparison is constant-time (:func:`hmac.compare_digest`).
Webhook URLs are capabilities (their unguessable token is the secret), and ``/healthz``,
``/openapi.json`` and the ``/docs`` page are public, so none of them asks for the token.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerAuth"]


class BearerAuth:
    """ASGI middleware refusing ``/api`` requests without the bearer token (401)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._token is None
            or scope["type"] != "http"
            or not (scope["path"] == "/api" or scope["path"].startswith("/api/"))
        ):
            await self.app(scope, receive, send)
            return
        if self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or invalid bearer token"},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="wdk"'},
        )
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return hmac.compare_digest(credentials.strip(), self._token)
        return False
