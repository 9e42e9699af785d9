"""The keys wdk writes: events' dedup keys and queue messages' idempotency keys, in one place.

The worker writes them as a run goes; ``wdk retry`` and ``wdk fork`` write the same ones again
(re-queued steps and timers, a copied log), so both sides read them from here.
"""

from __future__ import annotations

from wdk.worlds.base import EventType, NewMessage

__all__ = [
    "RUN_STARTED_KEY",
    "dedup_key",
    "patch_key",
    "step_key",
    "timer_message",
    "wf_message",
]

#: dedup key of a run's ``run_started`` event (one per run)
RUN_STARTED_KEY = "run:started"

#: event type -> the suffix of its dedup key after the correlation id
_SUFFIX = {
    EventType.STEP_CREATED: ":c",
    EventType.WAIT_CREATED: ":c",
    EventType.HOOK_CREATED: ":c",
    EventType.HOOK_CONFLICT: ":c",  # written in place of the hook's creation
    EventType.STEP_COMPLETED: ":d",
    EventType.STEP_FAILED: ":d",
    EventType.WAIT_COMPLETED: ":d",
    EventType.HOOK_DISPOSED: ":x",
}


def dedup_key(etype: str, cid: str | None) -> str | None:
    """The dedup key of a call's event (None for events that take none: attempts, payloads)."""
    if etype == EventType.RUN_STARTED:
        return RUN_STARTED_KEY
    suffix = _SUFFIX.get(etype)
    return f"{cid}{suffix}" if suffix is not None and cid is not None else None


def patch_key(name: str) -> str:
    """The dedup key of the ``patched`` marker of patch ``name`` (one per run)."""
    return f"patch:{name}"


def wf_message(run_id: str, not_before: float = 0.0) -> NewMessage:
    """The wake-up message of a run (one live per run: see NewMessage's dirty flag)."""
    return NewMessage("workflow", run_id, f"wf:{run_id}", not_before=not_before)


def step_key(run_id: str, cid: str) -> str:
    """The queue key of a step's message (one live per step call)."""
    return f"step:{run_id}:{cid}"


def timer_message(run_id: str, cid: str, resume_at: float) -> NewMessage:
    """The message that fires a sleep when it is due."""
    return NewMessage("timer", run_id, f"timer:{run_id}:{cid}", cid.encode(), not_before=resume_at)
