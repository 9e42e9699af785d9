"""The Starlette application behind ``wdk serve``.

:func:`create_app` wires the routes, the optional bearer auth, JSON error handlers (nothing
ever answers with a traceback: unexpected errors are logged and answered
``{"error": "internal server error"}``) and a lifespan that opens the world and runs an
embedded :class:`wdk.runtime.Worker` next to the HTTP server.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from wdk.server import _routes_deploys as deploys
from wdk.server import _routes_hooks as hooks
from wdk.server import _routes_runs as runs
from wdk.server import _routes_schedules as schedules
from wdk.server import _routes_ui as ui
from wdk.server._auth import BearerAuth
from wdk.server._body_timeout import DEFAULT_BODY_TIMEOUT, BodyTimeout, BodyTimeoutMiddleware
from wdk.server._docs import docs_asset, docs_page
from wdk.server._http import ApiError, error_response
from wdk.server._lifespan import served_world
from wdk.server._openapi import openapi_document
from wdk.server._webhooks import DEFAULT_TIMEOUT, webhook_route
from wdk.worlds.base import World

__all__ = ["ServerConfig", "ServerState", "create_app"]

log = logging.getLogger("wdk.server")

_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class ServerConfig:
    """Settings of the HTTP server (see ``wdk serve --help``)."""

    api_token: str | None = None
    """Bearer token required under ``/api`` (None: no auth)."""
    max_body: int = 1 << 20
    """Largest request body accepted, in bytes (larger: 413)."""
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """Seconds a client has to send a whole request body (slower: 408); 0 disables."""
    webhook_timeout: float = DEFAULT_TIMEOUT
    """Seconds a ``respond_with="manual"`` webhook caller waits (then 504)."""
    base_url: str = ""
    """Public base URL (webhook URLs, run URLs); ``wdk serve`` defaults it to its address."""
    keepalive: float = 15.0
    """Seconds between SSE keep-alive comments."""
    worker_concurrency: int = 8
    """Slots of the embedded worker; 0 runs no worker (an API-only server)."""
    routes: tuple[BaseRoute, ...] = ()
    """More routes served beside the API, behind the same auth (``wdk serve --chat`` mounts
    ``wdk.ai.chat_routes`` here: the server itself knows nothing of chat)."""
    deployment_id: str | None = None
    """Pin the embedded worker to this deployment (it claims only that deployment's runs);
    runs forked over HTTP are pinned to it too. None: ``WDK_DEPLOYMENT_ID``, else unpinned.
    Runs started through the API record ``WDK_DEPLOYMENT_ID`` (``wdk serve --deployment``
    sets it)."""
    adopt: bool = False
    """With a deployment, let the embedded worker also take other deployments' runs, moving
    them to its own."""

    def with_base_url(self, base_url: str) -> ServerConfig:
        """A copy with ``base_url`` set."""
        return replace(self, base_url=base_url)


@dataclass
class ServerState:
    """What the routes reach through ``request.app.state.wdk``."""

    world: World
    project: Any
    config: ServerConfig
    worker: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.message, **(exc.extra or {}))
    if isinstance(exc, BodyTimeout):
        # The rest of the body is never read: the connection cannot carry another request.
        response.headers["connection"] = "close"
    return response


def _allowed(routes: list[BaseRoute], scope: Scope) -> set[str]:
    """Methods some route (inside Mounts too) serves at the request's path."""
    allowed: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if isinstance(route, Route) and match is Match.PARTIAL and route.methods:
            allowed |= route.methods
        elif isinstance(route, Mount) and match is Match.FULL:
            if isinstance(route.app, StaticFiles):
                allowed |= {"GET", "HEAD"}
            else:
                allowed |= _allowed(list(route.routes), {**scope, **child})
    return allowed


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no route for {request.url.path}")
    if exc.status_code == 405:
        # Two routes may share a path with different methods (GET and POST /api/hooks/{token}),
        # and Starlette's own Allow names only the first: collect them from every route.
        methods = _allowed(list(request.app.routes), request.scope)
        if not methods and exc.headers:
            methods = {m.strip() for m in exc.headers.get("Allow", "").split(",") if m.strip()}
        allow = ", ".join(sorted(methods))
        response = error_response(
            405, f"method {request.method} not allowed here; allowed: {allow or 'none'}"
        )
        if allow:
            response.headers["allow"] = allow
        return response
    response = error_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _logged_path(request: Request) -> str:
    """The request path for logs, with hook and webhook tokens (capabilities) masked."""
    path = request.url.path
    token = request.path_params.get("token")
    if isinstance(token, str) and token:
        path = path.replace(token, "{token}")
    return path


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    # One line, not two tracebacks: a client going away mid-body is the client's business.
    log.warning(
        "client disconnected while sending the request body of %s %s",
        request.method,
        _logged_path(request),
    )
    return Response(status_code=400)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("error handling %s %s", request.method, _logged_path(request), exc_info=exc)
    return JSONResponse({"error": "internal server error"}, status_code=500)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _served(routes: list[BaseRoute]) -> set[tuple[str, str]]:
    """``(method, path)`` of every route, paths in OpenAPI form (``{name:path}`` -> ``{name}``)."""
    out: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            out.update((method.lower(), path) for method in route.methods or ())
    return out


def _openapi_endpoint(*, bearer: bool) -> Callable[[Request], Awaitable[Response]]:
    """``GET /openapi.json``: the document of the routes this app serves."""
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        # Built on first use (the app's routes are fixed by then), then served from memory.
        if not document:
            document.update(openapi_document(_served(request.app.routes), bearer=bearer))
        root_path = request.scope.get("root_path", "").rstrip("/")
        if root_path:
            return JSONResponse({**document, "servers": [{"url": root_path}]})
        return JSONResponse(document)

    return openapi


def create_app(
    world: World | str | None = None,
    *,
    project: Any = None,
    config: ServerConfig | None = None,
) -> Starlette:
    """The wdk HTTP app: API, webhooks, streams, with an embedded worker.

    Args:
        world: a World, a world URL, or None for the process default (``WDK_WORLD``).
        project: where workflow code lives (default: the process-wide project).
        config: server settings.
    """
    cfg = config or ServerConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from wdk.runtime import Worker, default_project

        proj = project or default_project()

        def make_worker(w: World) -> Worker | None:
            if cfg.worker_concurrency <= 0:
                return None
            return Worker(
                w,
                proj,
                concurrency=cfg.worker_concurrency,
                base_url=cfg.base_url,
                deployment_id=cfg.deployment_id,
                adopt=cfg.adopt,
            )

        async with served_world(world, make_worker) as (w, worker):
            app.state.wdk = ServerState(world=w, project=proj, config=cfg, worker=worker)
            yield

    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route(
            "/openapi.json", _openapi_endpoint(bearer=cfg.api_token is not None), methods=["GET"]
        ),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/{name}", docs_asset, methods=["GET"]),
        Route("/api/workflows/{workflow_id:path}/runs", runs.start_run, methods=["POST"]),
        Route("/api/runs", runs.list_runs, methods=["GET"]),
        Route("/api/runs/feed", ui.runs_feed, methods=["GET"]),
        Route("/api/runs/{run_id}", runs.get_run, methods=["GET"]),
        Route("/api/runs/{run_id}/cancel", runs.cancel_run, methods=["POST"]),
        Route("/api/runs/{run_id}/retry", deploys.retry, methods=["POST"]),
        Route("/api/runs/{run_id}/fork", deploys.fork, methods=["POST"]),
        Route("/api/runs/{run_id}/stream", runs.stream_run, methods=["GET"]),
        Route("/api/runs/{run_id}/hooks", runs.list_run_hooks, methods=["GET"]),
        Route("/api/runs/{run_id}/steps", ui.run_steps, methods=["GET"]),
        Route("/api/runs/{run_id}/events", ui.run_events, methods=["GET"]),
        Route("/api/runs/{run_id}/changes", ui.run_changes, methods=["GET"]),
        Route("/api/runs/{run_id}/streams", ui.run_streams, methods=["GET"]),
        Route("/api/hooks/{token}/schema", ui.hook_schema, methods=["GET"]),
        Route("/api/schedules", schedules.list_schedules, methods=["GET"]),
        Route("/api/schedules/{schedule_id}/pause", schedules.pause, methods=["POST"]),
        Route("/api/schedules/{schedule_id}/resume", schedules.resume, methods=["POST"]),
        Route("/api/schedules/{schedule_id}/trigger", schedules.trigger, methods=["POST"]),
        Route("/api/hooks/{token}", hooks.get_hook, methods=["GET"]),
        Route("/api/hooks/{token}", hooks.resume, methods=["POST"]),
        Route("/.well-known/workflow/v1/webhook/{token}", webhook_route, methods=_ANY_METHOD),
        # The web UI: an HTML shell and its assets (no run data without the API's token).
        Route("/", ui.page, methods=["GET"]),
        Route("/runs/{run_id}", ui.page, methods=["GET"]),
        Route("/ui/{name}", ui.asset, methods=["GET"]),
    ]
    routes += cfg.routes
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(BodyTimeoutMiddleware, timeout=cfg.body_timeout),
            Middleware(BearerAuth, token=cfg.api_token),
        ],
        exception_handlers={
            ApiError: _api_error,
            ClientDisconnect: _client_disconnect,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
