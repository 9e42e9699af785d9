"""Run streams as Server-Sent Events.

``GET /api/runs/{run_id}/stream?namespace=<ns>&startIndex=<n>`` answers ``text/event-stream``
with these headers, set at connect time:

* ``x-workflow-run-id``: the run;
* ``x-workflow-stream-tail-index``: the stream's last index when the reader connected (-1 when
  empty or unknown).

The body is a ``retry:`` hint, then one event per chunk, in index order::

    id: 3
    data: {"hello": "world"}

``id`` is the chunk's index, so a reader that drops can reconnect with
``startIndex=<last id + 1>`` (or send ``Last-Event-ID: <last id>``, which browsers'
``EventSource`` does by itself) and gets every chunk exactly once. ``data`` is the chunk as
JSON; ``bytes`` anywhere in it become ``{"$bytes": "<base64>"}``; a value with no JSON form
(a custom class, NaN, an int past 4,300 digits, a lone surrogate) is sent as
``{"$serde": "<base64 of its wdk.serde encoding>"}``, so no chunk can cut the stream. When
the stream is closed (explicitly, or because the run ended) and every chunk was sent, a final
event says so and the response ends::

    event: end
    data: {"next_index": 4}

Lines starting with ``:`` are keep-alive comments. Readers sleep on the world's change
notification: chunks reach them as soon as they are committed, without a polling loop.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from wdk.serde._json import encoded_json
from wdk.worlds.base import RunStatus, World

__all__ = ["KEEPALIVE_S", "follow_stream", "format_chunk", "resolve_start"]

#: Seconds between keep-alive comments while nothing is written.
KEEPALIVE_S = 15.0

_BATCH = 256


def format_chunk(index: int, data: bytes) -> bytes:
    """One SSE event for the stored chunk ``data`` at ``index``."""
    payload = json.dumps(encoded_json(data), ensure_ascii=False, separators=(",", ":"))
    return f"id: {index}\ndata: {payload}\n\n".encode()


async def resolve_start(world: World, run_id: str, namespace: str, start: int) -> int:
    """A non-negative start index: negative ones count back from the current tail."""
    if start >= 0:
        return start
    tail = (await world.stream_info(run_id, namespace)).tail_index
    return max(0, tail + 1 + start)


async def follow_stream(
    world: World, run_id: str, namespace: str, start: int, *, keepalive: float = KEEPALIVE_S
) -> AsyncIterator[bytes]:
    """SSE bytes for the stream from index ``start`` until it is closed or the run ends."""
    index = start
    topics = [f"stream:{run_id}:{namespace}", f"done:{run_id}"]
    yield b"retry: 1000\n\n"
    while True:
        chunks = await world.read_chunks(run_id, namespace, index, _BATCH)
        for chunk in chunks:
            yield format_chunk(chunk.index, chunk.data)
            index = chunk.index + 1
        if chunks:
            continue
        info = await world.stream_info(run_id, namespace)
        done = info.closed
        if not done:
            run = await world.get_run(run_id)
            done = run is None or run.status in RunStatus.TERMINAL
        if done:
            # Closed (or the run is over): anything written before that is visible now.
            rest = await world.read_chunks(run_id, namespace, index, _BATCH)
            if rest:
                continue
            yield f"event: end\ndata: {json.dumps({'next_index': index})}\n\n".encode()
            return
        if not await world.wait_for_change(topics, keepalive):
            yield b": keep-alive\n\n"
