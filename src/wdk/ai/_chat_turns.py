"""Where each turn of a chat run starts and ends in the run's stream.

A chat run writes AI SDK UI message chunks to one stream (the default namespace). A
single-turn run answers one user message; a multi-turn run (the workflow loops on a hook whose
token is :func:`chat_hook_token` of its run id, ``"<run_id>:chat"``) answers one more message
per payload it receives. Every turn ends with
exactly one ``finish`` chunk, so the turns are read off the stream itself:

* turn 0 starts at index 0; turn ``n`` starts right after the ``n``-th ``finish`` chunk;
* the run's *current* turn is ``1 + (payloads delivered to the chat hook) - 1``, counted from
  the event log (``hook_received`` events of the hooks whose token is ``chat_hook_token(run_id)``).

Both facts are durable (stream rows and events), so any server process, after any restart,
finds the same turns; nothing about a conversation lives only in one server's memory. A
``finish`` chunk never moves once written, so what a scan found is cached per run (bounded)
and later scans read only the new rows.

Approaches that failed: taking the turn's start from the stream tail at the moment the
follow-up is delivered is racy (the previous turn may still be writing), and it is lost when
a reconnect lands on another server process; markers written by the server into the UI stream
would be rendered by clients that do not know them.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import msgpack

from wdk import serde
from wdk.worlds.base import EventType, World

__all__ = ["TurnIndex", "TurnState", "chat_hook_token", "is_finish"]

_BATCH = 256


def chat_hook_token(run_id: str) -> str:
    """The token of a multi-turn chat run's message hook: ``"<run_id>:chat"``.

    A multi-turn chat workflow creates it once (``create_hook(token=chat_hook_token(run_id))``
    with ``run_id = get_workflow_metadata().workflow_run_id``) and awaits it for each next user
    message; ``POST /api/chat`` with ``runId`` delivers the message there (one AI SDK
    UIMessage dict per payload).
    """
    return f"{run_id}:chat"


def is_finish(value: Any) -> bool:
    """Whether a decoded chunk is the UI stream's ``finish`` chunk."""
    return isinstance(value, dict) and value.get("type") == "finish"


@dataclass
class TurnState:
    """What is known about one run's turns (only ever grows)."""

    finishes: list[int] = field(default_factory=list)
    """Absolute indexes of the ``finish`` chunks found so far, in order."""
    scanned: int = 0
    """The next stream index to scan for ``finish`` chunks."""
    seq: int = 0
    """The last event seq read from the run's log."""
    hook_cids: set[str] = field(default_factory=set)
    """Correlation ids of the run's chat hooks (token ``chat_hook_token(run_id)``)."""
    delivered: int = 0
    """Payloads delivered to the chat hooks (follow-up user messages)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def turns(self) -> int:
        """How many turns the run has been asked for (the first message plus follow-ups)."""
        return 1 + self.delivered

    def start_of(self, turn: int) -> int | None:
        """The absolute index where ``turn`` starts, None while the previous one runs."""
        if turn == 0:
            return 0
        if len(self.finishes) >= turn:
            return self.finishes[turn - 1] + 1
        return None

    def end_of(self, turn: int) -> int | None:
        """The absolute index of ``turn``'s ``finish`` chunk, None until it is written."""
        return self.finishes[turn] if len(self.finishes) > turn else None


class TurnIndex:
    """Turn boundaries of chat runs in one world, cached per run (least recently used out)."""

    def __init__(self, namespace: str, *, capacity: int = 512) -> None:
        self.namespace = namespace
        self._capacity = capacity
        self._runs: OrderedDict[str, TurnState] = OrderedDict()

    def _state(self, run_id: str) -> TurnState:
        state = self._runs.get(run_id)
        if state is None:
            state = self._runs[run_id] = TurnState()
            while len(self._runs) > self._capacity:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
        return state

    async def refresh(self, world: World, run_id: str) -> TurnState:
        """Read the run's new stream rows and events; the up-to-date state."""
        state = self._state(run_id)
        token = chat_hook_token(run_id)
        async with state.lock:
            while True:
                chunks = await world.read_chunks(run_id, self.namespace, state.scanned, _BATCH)
                for chunk in chunks:
                    if is_finish(_decode(chunk.data)):
                        state.finishes.append(chunk.index)
                    state.scanned = chunk.index + 1
                if len(chunks) < _BATCH:
                    break
            for event in await world.read_events(run_id, state.seq):
                state.seq = event.seq
                if event.type == EventType.HOOK_CREATED and _token(event.data) == token:
                    assert event.correlation_id is not None
                    state.hook_cids.add(event.correlation_id)
                elif event.type == EventType.HOOK_RECEIVED and event.correlation_id in (
                    state.hook_cids
                ):
                    state.delivered += 1
        return state


def _decode(data: bytes) -> Any:
    try:
        return serde.decode(data)
    except Exception:  # noqa: BLE001 - an undecodable chunk is not a finish chunk
        return None


def _token(data: bytes | None) -> str | None:
    if not data:
        return None
    try:
        spec = msgpack.unpackb(data, raw=False)
    except Exception:  # noqa: BLE001 - a damaged record names no token
        return None
    token = spec.get("token") if isinstance(spec, dict) else None
    return token if isinstance(token, str) else None
