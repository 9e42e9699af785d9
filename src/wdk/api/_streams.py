"""Durable streams, the reading side: ``Run.get_readable()``.

A reader can drop and reconnect from any index and gets every chunk exactly once. Readers
sleep on the world's change notification, never on a polling loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from wdk import serde
from wdk.errors import WorkflowRunNotFoundError
from wdk.runtime._streams import DEFAULT_NAMESPACE
from wdk.worlds._default import ready
from wdk.worlds.base import RunStatus, World

__all__ = ["Readable"]


class Readable:
    """Follows a stream from ``start_index`` until it is closed or the run ends.

    A negative ``start_index`` counts back from the tail at connect time (-1: the last chunk).
    Iterating the stream of a run id that does not exist raises
    :class:`~wdk.errors.WorkflowRunNotFoundError` (rather than ending at once as if the run
    had written an empty, closed stream).
    """

    def __init__(
        self, run: Any, *, namespace: str | None = None, start_index: int = 0, batch: int = 256
    ) -> None:
        self._run = run
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.start_index = start_index
        self._batch = batch
        self._iter: AsyncIterator[Any] | None = None
        self.next_index = start_index

    async def _world(self) -> World:
        return await ready(self._run._world)

    async def tail_index(self) -> int:
        """The last chunk's index, -1 when the stream is empty or was never written.

        Raises:
            WorkflowRunNotFoundError: no run has this id.
        """
        world = await self._world()
        info = await world.stream_info(self._run.run_id, self.namespace)
        if info.tail_index < 0 and await world.get_run(self._run.run_id) is None:
            raise _not_found(self._run.run_id)
        return info.tail_index

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if self._iter is None:
            self._iter = self._follow()
        return await self._iter.__anext__()

    async def _follow(self) -> AsyncIterator[Any]:
        world = await self._world()
        run_id, ns = self._run.run_id, self.namespace
        index = self.start_index
        if index < 0:
            tail = (await world.stream_info(run_id, ns)).tail_index
            index = max(0, tail + 1 + index)
        topics = [f"stream:{run_id}:{ns}", f"done:{run_id}"]
        while True:
            chunks = await world.read_chunks(run_id, ns, index, self._batch)
            for chunk in chunks:
                index = chunk.index + 1
                self.next_index = index
                yield serde.decode(chunk.data)
            if chunks:
                continue
            info = await world.stream_info(run_id, ns)
            if info.closed and info.tail_index < index:
                return
            run = await world.get_run(run_id)
            if run is None:
                # Not an empty stream: a run id nobody started (a typo, another world).
                raise _not_found(run_id)
            if run.status in RunStatus.TERMINAL:
                # The run ended: its streams are closed; drain what is left and stop.
                if not await world.read_chunks(run_id, ns, index, 1):
                    return
                continue
            await world.wait_for_change(topics, 5.0)


def _not_found(run_id: str) -> WorkflowRunNotFoundError:
    return WorkflowRunNotFoundError(
        f"no run has id {run_id!r}, so it has no stream to read (check the id, and that the "
        "reader uses the world the run was started on)",
        run_id=run_id,
    )
