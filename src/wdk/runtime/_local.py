"""Workers running in this process, by world: where a run started here can go at once.

``wdk.api.start`` asks the world's local worker (if one runs on the caller's event loop) to
take the new run: the worker runs the run's first pass at once and writes it in the same
durable commit as ``run_created``, so the run needs no workflow message, no claim and no
commit of its own for the first pass. Steps it creates are leased to that worker and run at
once; if the worker dies, their leases are released (or lapse) and any worker takes them over.
"""

from __future__ import annotations

from typing import Protocol

from wdk.worlds._flow import FlowStart
from wdk.worlds.base import NewEvent, QueuedStart

__all__ = ["StartTaker", "register", "taker_for", "unregister"]


class StartTaker(Protocol):
    """A worker that can take a run the moment it is started in its process."""

    async def start_run(self, run_id: str, created: NewEvent) -> bool:
        """Write the run's creation together with its first pass; False if it cannot.

        False means nothing was written and the caller appends ``created`` itself. True
        means the run exists (created here, or already there).
        """
        ...

    async def start_queued_run(
        self, run_id: str, created: NewEvent, flow: FlowStart
    ) -> QueuedStart | None:
        """A start on a queue whose first pass commits with it if it is admitted at once.

        None means nothing was written and the caller calls ``World.start_queued`` itself.
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
