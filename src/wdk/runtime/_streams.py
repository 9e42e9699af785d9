"""Durable streams, the writing side: ``get_writable()`` handles.

A writable is a small serializable handle (run id + namespace): workflow code may create it
and pass it to steps, but only steps write, because a write is I/O. Each chunk is one durable
row indexed from 0. Readers (``Run.get_readable()``) live with the client, in
:mod:`wdk.api._streams`.
"""

from __future__ import annotations

from typing import Any

from wdk import serde
from wdk._context import current_or_none
from wdk.errors import WorkflowError
from wdk.runtime._metadata import _workflow
from wdk.worlds._default import get_world
from wdk.worlds.base import World

__all__ = ["DEFAULT_NAMESPACE", "WritableStream", "get_writable"]

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
