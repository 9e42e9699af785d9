"""The client side of flow control: checking start options, and registering queue definitions.

``wdk.api.start``, ``POST /api/runs`` and ``wdk run`` all go through :func:`flow_start`, so a
bad option fails the same way everywhere, before anything is written.
"""

from __future__ import annotations

import importlib
import logging
import threading
import weakref
from typing import Any

from wdk._duration import parse_duration
from wdk.errors import QueueError
from wdk.runtime._loader import module_name_of, parse_id
from wdk.runtime._queues import declared, local_queue
from wdk.worlds._flow import FlowStart, QueueSpec
from wdk.worlds.base import World

__all__ = ["check_priority", "flow_start", "register_declared", "register_queue"]

log = logging.getLogger("wdk.queues")

#: world -> queue name -> the definition this process last registered there (by world
#: object: two memory worlds, or two PostgreSQL schemas, may share a URL)
_REGISTERED: weakref.WeakKeyDictionary[Any, dict[str, QueueSpec]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def flow_start(
    workflow_id: str,
    *,
    queue: str | None = None,
    key: str | None = None,
    priority: int | None = None,
    dedupe_key: str | None = None,
    debounce: Any = None,
    delay: Any = None,
) -> FlowStart | None:
    """The checked flow-control options of a start; None for a plain start.

    A start with only a ``delay`` gets a FlowStart whose ``queue`` is empty.

    Raises:
        QueueError: an option that needs a queue (or a key) without it, or a bad value.
        DurationError: ``debounce`` or ``delay`` is not a duration.
    """
    wait = parse_duration(delay) if delay is not None else None
    window = parse_duration(debounce) if debounce is not None else None
    if priority is not None and (type(priority) is not int):
        raise QueueError(f"priority={priority!r}: expected an integer (higher runs first)")
    if queue is None:
        given = [
            n
            for n, v in (("key", key), ("priority", priority), ("dedupe_key", dedupe_key))
            if v is not None
        ] + (["debounce"] if window is not None else [])
        if given:
            raise QueueError(
                f"start of {workflow_id}: {', '.join(given)} needs a queue: pass"
                " queue=<name of a wdk.Queue> too"
            )
        return None if wait is None else FlowStart("", delay=wait)
    if not isinstance(queue, str) or not queue:
        raise QueueError(f"queue={queue!r}: expected the name of a wdk.Queue")
    if window is not None and key is None:
        raise QueueError(
            f"start on queue {queue!r}: debounce needs a key (the starts that collapse into"
            " one run are the ones with the same key): pass key=...",
            queue=queue,
        )
    for name, value in (("key", key), ("dedupe_key", dedupe_key)):
        if value is not None and not isinstance(value, str):
            raise QueueError(f"{name}={value!r}: expected a string", queue=queue)
    return FlowStart(queue, key, priority or 0, dedupe_key, window, wait)


def _import_module_of(workflow_id: str) -> None:
    """Import the workflow's module (so its Queue declarations run); failures are ignored.

    A start by workflow id (the HTTP API) in a process that never imported the module still
    finds the queue; if the import fails, the world's registered definition is used.
    """
    try:
        _, relpath, _ = parse_id(workflow_id)
        importlib.import_module(module_name_of(relpath))
    except Exception:  # noqa: BLE001 - best effort: the world may know the queue anyway
        log.debug("could not import the module of %s", workflow_id, exc_info=True)


async def register_queue(world: World, name: str, workflow_id: str = "") -> QueueSpec | None:
    """Make sure the world has this process's definition of ``name``, if it has one.

    Writes only when this process has not registered that same definition on the world yet.
    """
    spec = local_queue(name)
    if spec is None and workflow_id:
        _import_module_of(workflow_id)
        spec = local_queue(name)
    if spec is None:
        return None
    with _LOCK:
        fresh = _REGISTERED.get(world, {}).get(name) != spec
    if fresh:
        await world.register_queues([spec])
        with _LOCK:
            _REGISTERED.setdefault(world, {})[name] = spec
    return spec


async def register_declared(world: World) -> None:
    """Register every queue declared in this process that the world lacks or has changed."""
    for spec in declared():
        await register_queue(world, spec.name)


def check_priority(spec: QueueSpec | None, flow: FlowStart) -> None:
    """A priority on a queue declared ``priority=False`` is refused."""
    if spec is not None and not spec.priority and flow.priority:
        raise QueueError(
            f"queue {spec.name!r} is first in, first out (declared priority=False): start"
            " without priority=, or declare the queue with priority=True",
            queue=spec.name,
        )
