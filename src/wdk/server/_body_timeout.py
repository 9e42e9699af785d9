"""A deadline on reading request bodies: slow senders get 408 instead of holding a slot.

uvicorn bounds idle keep-alive connections but not a request body that trickles in, so a
client sending one byte a second could hold a handler (and its memory) for as long as it
likes. This ASGI middleware wraps ``receive``: until the body is complete, every read must
finish before one deadline counted from the start of the request (a total, not an idle
timeout, so trickling does not reset it). Past it, the read raises :class:`BodyTimeout`, an
``ApiError`` the app answers with 408 (``Connection: close``: the rest of the body is never
read). Once the body is complete, ``receive`` is passed through untouched, so streaming
responses still see the client's disconnect whenever it comes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from wdk.server._http import ApiError

__all__ = ["DEFAULT_BODY_TIMEOUT", "BodyTimeout", "BodyTimeoutMiddleware"]

#: Seconds a client has to send a whole request body (``wdk serve --body-timeout``).
DEFAULT_BODY_TIMEOUT = 30.0

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class BodyTimeout(ApiError):
    """The request body did not arrive in time (answered 408)."""


class BodyTimeoutMiddleware:
    """ASGI middleware: a request body must arrive within ``timeout`` seconds (<= 0: none)."""

    def __init__(self, app: ASGIApp, timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that enforces the body deadline."""
        if scope["type"] != "http" or self.timeout <= 0:
            await self.app(scope, receive, send)
            return
        timeout = self.timeout
        deadline = anyio.current_time() + timeout
        body_done = False

        async def guarded() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope_:
                message = await receive()
            if scope_.cancelled_caught:
                raise BodyTimeout(
                    408,
                    f"request body not received within {timeout:g}s; send the whole body "
                    "promptly (the server's limit is wdk serve --body-timeout)",
                )
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, guarded, send)
