"""What an app's lifespan holds: the world it serves and, optionally, an in-process worker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import anyio

from wdk.worlds.base import World

if TYPE_CHECKING:
    from wdk.runtime import Worker

__all__ = ["served_world"]


@contextlib.asynccontextmanager
async def served_world(
    world: World | str | None, make_worker: Callable[[World], Worker | None]
) -> AsyncIterator[tuple[World, Worker | None]]:
    """Open ``world`` (a World, a URL, or None for the process default) and make it current.

    ``make_worker(world)`` may return a worker, which runs until the block exits. A world
    opened here from a URL is closed afterwards; one passed in stays open.
    """
    from wdk.worlds import open_world
    from wdk.worlds._default import get_world, set_world

    w = open_world(world) if isinstance(world, str) else (world or get_world())
    await w.setup()
    set_world(w)
    worker = make_worker(w)
    async with anyio.create_task_group() as tg:
        if worker is not None:
            tg.start_soon(worker.run)
        try:
            yield w, worker
        finally:
            if worker is not None:
                worker.stop()
    if isinstance(world, str):
        await w.close()
