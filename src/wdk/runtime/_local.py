"""Workers running in this process, by world: where a run started here can go at once.

``wdk.api.start`` asks the world's local worker (if one runs on the caller's event loop and
has a free slot) to take the new run: the run's first message is then written already leased
to that worker, which starts on it at once, with no claim and no wake-up through the queue.
If that worker dies, the lease expires and any worker claims the message, as for any other.
"""

from __future__ import annotations

from typing import Protocol

from wdk.worlds.base import NewMessage

__all__ = ["StartTaker", "register", "taker_for", "unregister"]


class StartTaker(Protocol):
    """A worker that can take a run the moment it is started in its process."""

    def take_start(self, run_id: str) -> NewMessage | None:
        """Reserve a slot for ``run_id``; returns the message to enqueue, or None.

        None when there is no room, or the caller is not on the worker's event loop.
        """
        ...

    def started(self, message: NewMessage, message_id: int | None) -> None:
        """The start was written (``message_id``: its message's row) or not (None).

        With None the reserved slot is given back.
        """
        ...


_takers: dict[int, StartTaker] = {}


def register(world: object, taker: StartTaker) -> None:
    """``taker`` works on ``world`` in this process (the latest one registered wins)."""
    _takers[id(world)] = taker


def unregister(world: object, taker: StartTaker) -> None:
    """``taker`` stopped working on ``world``."""
    if _takers.get(id(world)) is taker:
        del _takers[id(world)]


def taker_for(world: object) -> StartTaker | None:
    """The worker that would take a run started on ``world`` here, if any."""
    return _takers.get(id(world))
