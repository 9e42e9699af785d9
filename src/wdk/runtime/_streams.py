"""Durable streams: ``get_writable()`` handles and ``Run.get_readable()`` readers.

A writable is a small serializable handle (run id + namespace): workflow code may create it
and pass it to steps, but only steps write, because a write is I/O. Each chunk is one durable
row indexed from 0; a reader can drop and reconnect from any index and gets every chunk exactly
once. Readers sleep on the world's change notification, never on a polling loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from wdk import serde
from wdk.errors import WorkflowError
from wdk.runtime._context import current_or_none
from wdk.runtime._metadata import _workflow
from wdk.worlds.base import RunStatus, World

__all__ = ["DEFAULT_NAMESPACE", "Readable", "WritableStream", "get_writable"]

DEFAULT_NAMESPACE = "default"


class WritableStream:
    """A handle on one stream of a run. ``await write(chunk)`` and ``await close()`` in steps."""

    def __init__(self, run_id: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.run_id = run_id
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"WritableStream({self.run_id!r}, {self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WritableStream) and (other.run_id, other.namespace) == (
            self.run_id,
            self.namespace,
        )

    def __hash__(self) -> int:
        return hash((self.run_id, self.namespace))

    def _check_step(self, what: str) -> World:
        if current_or_none() is not None:
            raise WorkflowError(
                f"{what} is not allowed in workflow code: writing to a stream is I/O. Pass the "
                "writable to a 'use step' function and write there."
            )
        from wdk.api import get_world

        return get_world()

    async def write(self, chunk: Any) -> int:
        """Append ``chunk`` (any serializable value; bytes stay bytes); returns its index."""
        world = self._check_step("stream.write()")
        return await world.write_chunk(
            self.run_id, self.namespace, serde.encode(chunk, path="chunk")
        )

    async def close(self) -> None:
        """Close the stream: readers finish once they have read every chunk."""
        world = self._check_step("stream.close()")
        await world.close_stream(self.run_id, self.namespace)

    def __wdk_serialize__(self) -> dict[str, str]:
        return {"run_id": self.run_id, "namespace": self.namespace}

    @classmethod
    def __wdk_deserialize__(cls, data: dict[str, str]) -> WritableStream:
        return cls(data["run_id"], data["namespace"])


def get_writable(*, namespace: str | None = None) -> WritableStream:
    """The writable stream of the current run (``namespace`` defaults to ``"default"``)."""
    ns = namespace or DEFAULT_NAMESPACE
    ctx = current_or_none()
    if ctx is not None:
        return WritableStream(ctx.run_id, ns)
    meta = _workflow.get()
    if meta is None:
        raise WorkflowError("get_writable() can only be called in workflow code or in a step.")
    return WritableStream(meta.workflow_run_id, ns)


class Readable:
    """Follows a stream from ``start_index`` until it is closed or the run ends.

    A negative ``start_index`` counts back from the tail at connect time (-1: the last chunk).
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
        from wdk.api._client import _ready

        return await _ready(self._run._world)

    async def tail_index(self) -> int:
        """The last chunk's index, -1 when the stream is empty or unknown."""
        world = await self._world()
        return (await world.stream_info(self._run.run_id, self.namespace)).tail_index

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
            if run is None or run.status in RunStatus.TERMINAL:
                # The run ended: its streams are closed; drain what is left and stop.
                if not await world.read_chunks(run_id, ns, index, 1):
                    return
                continue
            await world.wait_for_change(topics, 5.0)
