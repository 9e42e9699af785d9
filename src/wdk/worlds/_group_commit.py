"""Group commit: requests made while others are in flight go to storage together.

A caller submits one request and awaits its outcome. If fewer than ``max_in_flight`` batches
are in flight, the caller itself sends everything pending (its own request included) as one
batch; otherwise it waits, and when a batch finishes the oldest waiting caller sends the next
one. Alone, a request goes out at once, with no hop through another task; under load, one
round trip and one flush serve many requests.

A batch is sent under a cancellation shield, so every request taken into it gets its outcome
even if the caller who sent it is cancelled. A caller cancelled before its request was taken
withdraws it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

__all__ = ["GroupCommit"]

Req = TypeVar("Req")
Res = TypeVar("Res")


class _Entry(Generic[Req, Res]):
    __slots__ = ("request", "outcome", "done", "taken", "wake")

    def __init__(self, request: Req) -> None:
        self.request = request
        self.outcome: Res | BaseException | None = None
        self.done = False
        self.taken = False
        self.wake = anyio.Event()


class GroupCommit(Generic[Req, Res]):
    """Batches concurrent requests for ``send``.

    Args:
        send: sends a batch; returns one outcome per request, in order (an exception
            instance for a request that failed). If it raises, every request of the batch
            fails with that error.
        max_in_flight: batches sent at once.
        max_batch: requests per batch at most.
    """

    def __init__(
        self,
        send: Callable[[Sequence[Req]], Awaitable[Sequence[Res | BaseException]]],
        *,
        max_in_flight: int = 2,
        max_batch: int = 64,
    ) -> None:
        self._send = send
        self._max_in_flight = max(1, max_in_flight)
        self._max_batch = max(1, max_batch)
        self._pending: list[_Entry[Req, Res]] = []
        self._in_flight = 0

    async def submit(self, request: Req) -> Res:
        """Send ``request`` (alone or with others) and return its outcome, or raise it."""
        entry: _Entry[Req, Res] = _Entry(request)
        self._pending.append(entry)
        while not entry.done:
            if not entry.taken and self._in_flight < self._max_in_flight:
                await self._lead()
                continue
            entry.wake = anyio.Event()
            try:
                await entry.wake.wait()
            except BaseException:
                if not entry.taken:
                    self._pending.remove(entry)
                    self._pass_turn()  # it may have been this entry's turn to send
                raise
        if isinstance(entry.outcome, BaseException):
            raise entry.outcome
        return entry.outcome  # type: ignore[return-value]

    async def _lead(self) -> None:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        for entry in batch:
            entry.taken = True
        self._in_flight += 1
        try:
            with anyio.CancelScope(shield=True):
                outcomes = await self._send([e.request for e in batch])
        except BaseException as exc:
            # Handed to every caller of the batch; a KeyboardInterrupt goes on up too.
            self._finish(batch, [exc] * len(batch))
            if not isinstance(exc, Exception):
                raise
        else:
            if len(outcomes) != len(batch):  # a broken send must not strand its callers
                error = RuntimeError(f"send answered {len(outcomes)} of {len(batch)} requests")
                outcomes = [error] * len(batch)
            self._finish(batch, outcomes)

    def _finish(
        self, batch: list[_Entry[Req, Res]], outcomes: Sequence[Res | BaseException]
    ) -> None:
        self._in_flight -= 1
        for entry, outcome in zip(batch, outcomes, strict=True):
            entry.outcome, entry.done = outcome, True
            entry.wake.set()
        self._pass_turn()

    def _pass_turn(self) -> None:
        if self._pending and self._in_flight < self._max_in_flight:
            self._pending[0].wake.set()
