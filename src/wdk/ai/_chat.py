"""Chat routes speaking the ``WorkflowChatTransport`` protocol: ``chat_app(workflow)``.

A browser using the AI SDK's ``useChat`` with ``WorkflowChatTransport`` (``@workflow/ai``)
talks to two routes (``/api/chat`` by default):

``POST /api/chat``
    Body (JSON, whatever the content type: the transport sends ``text/plain``):
    ``{"messages": [UIMessage, ...], "runId"?: "..."}``. Without ``runId`` it starts the chat
    workflow with ``messages`` as its only argument. With ``runId`` it continues that run's
    conversation: the last message is delivered to the run's chat hook (the
    multi-turn pattern: the workflow loops ``await hook`` on a hook whose token is
    ``chat_hook_token(run_id)``, i.e. ``"<run_id>:chat"``, for the next user message). The
    answer is the new turn only, as an AI SDK UI message stream over SSE
    (``x-vercel-ai-ui-message-stream: v1``) with the run id in ``x-workflow-run-id``.
    A stale ``runId`` (no such run, or its run has ended) starts a fresh conversation with
    ``messages`` instead: ``x-workflow-run-id`` names the new run and
    ``x-wdk-chat-stale-run-id`` the one it replaces. A run of another workflow is a 404.

``GET /api/chat/{run_id}/stream?startIndex=N``
    Resumes the run's current turn from its ``N``-th chunk (turn-relative, exactly what the
    transport counted); a negative ``N`` counts back from the turn's last chunk, and
    ``x-workflow-stream-tail-index`` carries that last index (turn-relative, -1 when the turn
    has written nothing yet). ``&turn=T`` picks an earlier turn.

Each response ends right after the turn's single ``finish`` chunk; when the run ended without
writing it, one is synthesized (after an ``error`` chunk for a failed run), since a
transport that sees no ``finish`` reconnects forever. Turn boundaries come from the stream
and the event log (see :mod:`wdk.ai._chat_turns`), so a reconnect may land on any server
process.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from wdk.ai._chat_stream import UiStreamResponse, turn_stream
from wdk.ai._chat_turns import TurnIndex, chat_hook_token
from wdk.errors import HookNotFoundError, HookPayloadError, SerializationError
from wdk.runtime._loader import workflow_id_of
from wdk.runtime._streams import DEFAULT_NAMESPACE
from wdk.server._http import ApiError, error_response, int_query, read_json
from wdk.server._lifespan import served_world
from wdk.worlds.base import RunInfo, RunStatus, World

__all__ = ["ChatEndpoints", "chat_app", "chat_hook_token", "chat_routes"]

log = logging.getLogger("wdk.ai.chat")

#: Response header naming the stale ``runId`` a POST replaced with a fresh conversation.
STALE_RUN_HEADER = "x-wdk-chat-stale-run-id"

_RUN_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_MAX_INDEX = 2**62


class ChatEndpoints:
    """The two chat endpoints for one workflow (see the module docstring).

    Args:
        workflow: the chat workflow (function or ID); it is started with ``[messages]``.
        world: the world to use; None: the ``wdk serve`` app's world, else the process default.
        namespace: the run stream carrying the UI chunks (default ``"default"``).
        max_body: largest request body in bytes (larger: 413).
        keepalive: seconds between SSE keep-alive comments.
        hook_wait: seconds a follow-up waits for the run's chat hook to exist (then 409).
        abort_after_chunks: test-only: cut every POST answer after this many chunks without
            finishing the response, so clients must resume with ``GET .../stream``.
    """

    def __init__(
        self,
        workflow: Any,
        *,
        world: World | None = None,
        namespace: str | None = None,
        max_body: int = 1 << 20,
        keepalive: float = 15.0,
        hook_wait: float = 10.0,
        abort_after_chunks: int | None = None,
    ) -> None:
        self.workflow_id = workflow_id_of(workflow)
        self.world = world
        self.turns = TurnIndex(namespace or DEFAULT_NAMESPACE)
        self.max_body = max_body
        self.keepalive = keepalive
        self.hook_wait = hook_wait
        if abort_after_chunks is not None and abort_after_chunks < 0:
            raise ValueError("abort_after_chunks must be >= 0")
        self.abort_after_chunks = abort_after_chunks

    def routes(self, prefix: str = "/api/chat") -> list[BaseRoute]:
        """``POST {prefix}`` and ``GET {prefix}/{run_id}/stream``."""
        prefix = "/" + prefix.strip("/")
        return [
            Route(prefix, self.post, methods=["POST"]),
            Route(prefix + "/{run_id}/stream", self.resume, methods=["GET"]),
        ]

    async def _world(self, request: Request) -> World:
        from wdk.worlds._default import ready as _ready

        if self.world is not None:
            return await _ready(self.world)
        state = getattr(request.app.state, "wdk", None)
        world = getattr(state, "world", None)
        if world is not None:
            return world  # type: ignore[no-any-return]
        return await _ready(None)

    async def post(self, request: Request) -> Response:
        """``POST {prefix}``: start a conversation or continue one; answers the new turn."""
        world = await self._world(request)
        body = await read_json(request, self.max_body)
        messages, run_id = _parse_post(body)
        headers: dict[str, str] = {}
        turn = None if run_id is None else await self._continue(world, run_id, messages[-1])
        if turn is None:
            # A new conversation, or a stale runId (no such run, or its conversation is over):
            # start afresh with the messages the client holds, as the seed's route does; the
            # run-id header tells the client which run it talks to now.
            if run_id is not None:
                headers[STALE_RUN_HEADER] = run_id
            run_id, turn = await self._start(world, messages), 0
        assert run_id is not None
        stream = turn_stream(
            world,
            self.turns,
            run_id,
            turn,
            0,
            keepalive=self.keepalive,
            abort_after=self.abort_after_chunks,
        )
        headers.update({"x-workflow-run-id": run_id, "x-wdk-chat-turn": str(turn)})
        return UiStreamResponse(stream, headers)

    async def _start(self, world: World, messages: list[Any]) -> str:
        from wdk.api import start

        try:
            run = await start(self.workflow_id, [messages], world=world)
        except SerializationError as exc:
            raise ApiError(400, str(exc)) from None
        return run.run_id

    async def _continue(self, world: World, run_id: str, message: Any) -> int | None:
        """Deliver ``message`` to the run's chat hook; the number of the turn it starts.

        None when the run id is stale: no run has it, or the run has ended (completed,
        failed, cancelled), so the conversation is to start afresh. A run of another
        workflow is a 404; a live run not waiting for a message a 409.
        """
        from wdk.api import resume_hook

        info = await world.get_run(run_id)
        if info is None or info.status in RunStatus.TERMINAL:
            return None
        self._check_workflow(info)
        state = await self.turns.refresh(world, run_id)
        if len(state.finishes) < state.turns:
            raise ApiError(
                409,
                f"run {run_id} is still answering the previous message; send the next one "
                "after its finish chunk",
            )
        deadline = time.monotonic() + self.hook_wait
        while await world.get_hook_by_token(chat_hook_token(run_id)) is None:
            info = await world.get_run(run_id)
            if info is None or info.status in RunStatus.TERMINAL:
                return None  # it ended meanwhile: the conversation is over
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(409, _not_waiting(run_id))
            await world.wait_for_change([f"done:{run_id}"], left)
        turn = state.turns
        try:
            await resume_hook(chat_hook_token(run_id), message, world=world)
        except HookNotFoundError:
            info = await world.get_run(run_id)
            if info is None or info.status in RunStatus.TERMINAL:
                return None
            raise ApiError(409, _not_waiting(run_id)) from None
        except (SerializationError, HookPayloadError) as exc:
            raise ApiError(400, str(exc)) from None
        return turn

    def _check_workflow(self, info: RunInfo) -> None:
        if info.workflow_id != self.workflow_id:
            raise ApiError(
                404,
                f"run {info.run_id} is not a conversation of this chat: it is a run of "
                f"{info.workflow_id}, the chat serves {self.workflow_id}",
            )

    async def _chat_run(self, world: World, run_id: str) -> RunInfo:
        info = await world.get_run(run_id)
        if info is None:
            raise ApiError(404, f"no chat run has id {run_id!r}")
        self._check_workflow(info)
        return info

    async def resume(self, request: Request) -> Response:
        """``GET {prefix}/{run_id}/stream?startIndex=N&turn=T``: resume a turn."""
        world = await self._world(request)
        run_id: str = request.path_params["run_id"]
        await self._chat_run(world, run_id)
        start_index = int_query(request, "startIndex", 0, -_MAX_INDEX, _MAX_INDEX)
        state = await self.turns.refresh(world, run_id)
        turn = int_query(request, "turn", state.turns - 1, 0, _MAX_INDEX)
        start = state.start_of(turn)
        tail = -1
        if start is not None:
            tail = (await world.stream_info(run_id, self.turns.namespace)).tail_index
            end = state.end_of(turn)
            tail = max(-1, (tail if end is None else min(tail, end)) - start)
        offset = start_index if start_index >= 0 else max(0, tail + 1 + start_index)
        stream = turn_stream(world, self.turns, run_id, turn, offset, keepalive=self.keepalive)
        return UiStreamResponse(
            stream,
            {
                "x-workflow-run-id": run_id,
                "x-workflow-stream-tail-index": str(tail),
                "x-wdk-chat-turn": str(turn),
            },
        )


def _not_waiting(run_id: str) -> str:
    return (
        f"run {run_id} is not waiting for a message: a multi-turn chat workflow waits on "
        f"create_hook(token={chat_hook_token(run_id)!r})"
    )


def _parse_post(body: Any) -> tuple[list[Any], str | None]:
    if not isinstance(body, dict):
        raise ApiError(400, 'request body must be a JSON object like {"messages": [...]}')
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty JSON array of UI messages")
    if not all(isinstance(m, dict) for m in messages):
        raise ApiError(400, "each message must be a JSON object (an AI SDK UIMessage)")
    run_id = body.get("runId", body.get("run_id"))
    if run_id is not None and (not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id)):
        raise ApiError(400, "'runId' must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return messages, run_id


def chat_routes(
    workflow: Any,
    *,
    prefix: str = "/api/chat",
    world: World | None = None,
    namespace: str | None = None,
    max_body: int = 1 << 20,
    keepalive: float = 15.0,
    hook_wait: float = 10.0,
    abort_after_chunks: int | None = None,
) -> list[BaseRoute]:
    """The chat routes, to add to any Starlette app (``wdk serve --chat`` does).

    Errors are raised as ``wdk.server._http.ApiError``; the app should answer them as JSON
    (``wdk serve``'s app and :func:`chat_app` do). Arguments: see :class:`ChatEndpoints`.
    """
    endpoints = ChatEndpoints(
        workflow,
        world=world,
        namespace=namespace,
        max_body=max_body,
        keepalive=keepalive,
        hook_wait=hook_wait,
        abort_after_chunks=abort_after_chunks,
    )
    return endpoints.routes(prefix)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, **(exc.extra or {}))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("error handling %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal server error"}, status_code=500)


def chat_app(
    workflow: Any,
    *,
    world: World | str | None = None,
    prefix: str = "/api/chat",
    namespace: str | None = None,
    static_dir: str | Path | None = None,
    worker_concurrency: int = 8,
    max_body: int = 1 << 20,
    keepalive: float = 15.0,
    hook_wait: float = 10.0,
    abort_after_chunks: int | None = None,
) -> Starlette:
    """A Starlette app serving ``workflow`` to ``useChat`` + ``WorkflowChatTransport``.

    Its lifespan opens the world and runs an embedded worker (``worker_concurrency`` slots; 0
    for none, when ``wdk worker`` processes advance the runs). Mounted inside another app (whose
    lifespan does not run it), the routes use the process default world and need a worker
    elsewhere.

    Args:
        workflow: the chat workflow, a function or its ID; started as ``workflow(messages)``.
        world: a World, a world URL, or None for the process default (``WDK_WORLD``).
        prefix: where the routes live (``POST {prefix}``, ``GET {prefix}/{run_id}/stream``).
        namespace: the run stream carrying the UI chunks (default ``"default"``).
        static_dir: a directory served at ``/`` (a built chat page), ``index.html`` for ``/``.
        worker_concurrency: slots of the embedded worker.
        max_body: largest request body in bytes.
        keepalive: seconds between SSE keep-alive comments.
        hook_wait: seconds a follow-up waits for the run's chat hook (then 409).
        abort_after_chunks: test-only, see :class:`ChatEndpoints`.
    """
    endpoints = ChatEndpoints(
        workflow,
        world=None if world is None or isinstance(world, str) else world,
        namespace=namespace,
        max_body=max_body,
        keepalive=keepalive,
        hook_wait=hook_wait,
        abort_after_chunks=abort_after_chunks,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from wdk.runtime import Worker, default_project

        def make_worker(w: World) -> Worker | None:
            if worker_concurrency <= 0:
                return None
            return Worker(w, default_project(), concurrency=worker_concurrency)

        async with served_world(world, make_worker) as (w, _):
            endpoints.world = w
            yield

    routes: Sequence[BaseRoute] = endpoints.routes(prefix)
    if static_dir is not None:
        routes = [*routes, Mount("/", StaticFiles(directory=str(static_dir), html=True))]
    return Starlette(
        routes=list(routes),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
