"""One turn of a chat run as an AI SDK UI message stream over SSE.

The body is what ``createUIMessageStreamResponse`` of the AI SDK sends: one ``data: <chunk as
JSON>`` event per chunk, ``: keep-alive`` comments while nothing is written. It ends right
after the turn's ``finish`` chunk. When the run ends (completed, failed, cancelled) or its
stream is closed before the turn wrote its ``finish``, a ``finish`` is synthesized (after an
``error`` chunk naming the failure when the run failed): a ``WorkflowChatTransport`` that does
not see a ``finish`` reconnects forever.

Test-only: ``abort_after`` cuts the response after that many chunks without finishing it (the
connection is closed mid-body, as a crashed proxy or a function timeout would), so tests can
check that a client resumes with ``GET .../stream?startIndex=N``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Send

from wdk import serde
from wdk.ai._chat_turns import TurnIndex, TurnState, is_finish
from wdk.serde._json import encoded_json
from wdk.worlds.base import RunInfo, RunStatus, World

__all__ = ["ABORT", "KEEPALIVE", "UiStreamResponse", "turn_stream"]

log = logging.getLogger("wdk.ai.chat")

_BATCH = 256

#: Yielded by :func:`turn_stream` while nothing happens: an SSE comment line.
KEEPALIVE = b": keep-alive\n\n"


class _Abort(bytes):
    """The type of :data:`ABORT` (a marker, never sent)."""


#: Yielded to cut the response (test-only ``abort_after``): the body is left unfinished.
ABORT = _Abort()


def _event(value: Any) -> bytes:
    return (
        b"data: "
        + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        + (b"\n\n")
    )


def _failure_text(info: RunInfo | None) -> str | None:
    if info is None:
        return "the run no longer exists"
    if info.status != RunStatus.FAILED:
        return None
    try:
        err = serde.decode(info.error) if info.error else None
    except Exception:  # noqa: BLE001 - a damaged error record is still a failure
        err = None
    message = str(err.get("message", "")) if isinstance(err, dict) else str(err or "")
    return f"run failed: {message}" if message else "run failed"


def _synthesized_end(info: RunInfo | None) -> list[bytes]:
    """The tail of a turn whose run ended before writing ``finish``."""
    out = []
    failure = _failure_text(info)
    if failure is not None:
        out.append(_event({"type": "error", "errorText": failure}))
    out.append(_event({"type": "finish"}))
    return out


async def _run_over(world: World, run_id: str, namespace: str) -> tuple[bool, RunInfo | None]:
    info = await world.get_run(run_id)
    if info is None or info.status in RunStatus.TERMINAL:
        return True, info
    return (await world.stream_info(run_id, namespace)).closed, info


async def turn_stream(
    world: World,
    turns: TurnIndex,
    run_id: str,
    turn: int,
    offset: int,
    *,
    keepalive: float,
    abort_after: int | None = None,
) -> AsyncIterator[bytes]:
    """SSE bytes of ``turn`` of the run from the turn-relative index ``offset``."""
    namespace = turns.namespace
    topics = [f"stream:{run_id}:{namespace}", f"done:{run_id}"]
    sent = 0
    # 1. Wait for the turn to start: the previous turn's finish chunk.
    state: TurnState
    while True:
        state = await turns.refresh(world, run_id)
        start = state.start_of(turn)
        if start is not None:
            break
        over, info = await _run_over(world, run_id, namespace)
        if over:
            state = await turns.refresh(world, run_id)  # rows committed before the end
            if state.start_of(turn) is not None:
                continue
            for event in _synthesized_end(info):
                yield event
            return
        if not await world.wait_for_change(topics, keepalive):
            yield KEEPALIVE
    # 2. Follow the turn until its finish chunk.
    index = start + max(0, offset)
    end = state.end_of(turn)
    if end is not None and index > end:
        # The reader already has the whole turn: close it for them again.
        yield _event({"type": "finish"})
        return
    while True:
        chunks = await world.read_chunks(run_id, namespace, index, _BATCH)
        for chunk in chunks:
            value = encoded_json(chunk.data)
            if abort_after is not None and sent >= abort_after:
                log.warning(
                    "chat: cutting the response of run %s turn %d after %d chunks "
                    "(abort_after_chunks, a test option)",
                    run_id,
                    turn,
                    sent,
                )
                yield ABORT
                return
            yield _event(value)
            sent += 1
            index = chunk.index + 1
            if is_finish(value):
                return
        if chunks:
            continue
        over, info = await _run_over(world, run_id, namespace)
        if over:
            if await world.read_chunks(run_id, namespace, index, 1):
                continue
            for event in _synthesized_end(info):
                yield event
            return
        if not await world.wait_for_change(topics, keepalive):
            yield KEEPALIVE


class UiStreamResponse(StreamingResponse):
    """``text/event-stream`` with the UI message stream headers; :data:`ABORT` cuts it."""

    def __init__(self, content: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
                "x-vercel-ai-ui-message-stream": "v1",
                **headers,
            },
        )

    async def stream_response(self, send: Send) -> None:
        """Send the body; on :data:`ABORT` return without the final empty body message.

        The ASGI server then closes the connection mid-body (uvicorn logs "ASGI callable
        returned without completing response"), which clients see as a network error.
        """
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if isinstance(chunk, _Abort):
                return
            data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
