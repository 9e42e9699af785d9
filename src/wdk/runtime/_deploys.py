"""Shipping code changes under in-flight runs: retry, fork, export and replay.

The operations behind ``wdk retry|fork|export|replay`` and their HTTP twins. Everything here
works on a world and a project; nothing runs a step.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from wdk import serde
from wdk._ids import new_run_id as make_run_id
from wdk.errors import (
    AmbiguousRunIdError,
    RunStateError,
    WorkflowRunNotFoundError,
)
from wdk.runtime._divergence import SUGGESTION
from wdk.runtime._keys import dedup_key, patch_key, step_key, timer_message, wf_message
from wdk.runtime._loader import Project, current_deployment
from wdk.runtime._replay import project_sandbox_config, replay_events
from wdk.worlds.base import (
    Event,
    EventType,
    NewEvent,
    NewMessage,
    RunInfo,
    RunStatus,
    World,
)

__all__ = [
    "HISTORY_FORMAT",
    "ReplayResult",
    "export_history",
    "fork_run",
    "load_history",
    "replay_history",
    "replay_runs",
    "resolve_run_id",
    "retry_run",
]

#: ``format`` of an exported history (``wdk export``); bumped on an incompatible change.
HISTORY_FORMAT = "wdk-history/1"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What replaying one run's history against the current code found.

    ``ok`` is True when the code makes the same durable calls the log recorded (it may go on
    past the log's end: that is progress, not divergence). Otherwise ``event`` is the log's
    seq where it diverged (None when the workflow itself is missing), ``location`` the user's
    ``file:line``, ``message`` the whole explanation and ``suggestion`` what to do.
    """

    run_id: str
    workflow_id: str
    ok: bool
    code: str = ""
    event: int | None = None
    position: int | None = None
    expected: str = ""
    actual: str = ""
    location: str = ""
    message: str = ""
    suggestion: str = ""


async def resolve_run_id(world: World, text: str) -> str:
    """The run id ``text`` names: the id itself, or the one run whose id starts with it.

    Raises WorkflowRunNotFoundError (no such run) or AmbiguousRunIdError (several match).
    """
    text = text.strip()
    if not text:
        raise WorkflowRunNotFoundError("a run id is needed (got an empty one)", run_id=text)
    if await world.get_run(text) is not None:
        return text
    page = await world.list_runs(id_prefix=text, limit=5)
    ids = tuple(run.run_id for run in page.runs)
    if not ids:
        raise WorkflowRunNotFoundError(
            f"no run has id {text!r} (nor an id starting with it); `wdk inspect runs` lists runs",
            run_id=text,
        )
    if len(ids) > 1:
        more = ", ..." if page.cursor else ""
        raise AmbiguousRunIdError(
            f"{text!r} is the start of several run ids ({', '.join(ids)}{more}); give more of "
            "the id",
            prefix=text,
            matches=ids,
        )
    return ids[0]


async def _existing(world: World, run_id: str) -> RunInfo:
    info = await world.get_run(run_id)
    if info is None:
        raise WorkflowRunNotFoundError(f"no run has id {run_id!r}", run_id=run_id)
    return info


async def retry_run(world: World, run_id: str) -> None:
    """Try a blocked run again now: status ``running``, its work queued again.

    Steps and timers that were waiting when it was parked are queued again unless their
    messages are still live (a step message is never duplicated: that would run it twice).
    Raises WorkflowRunNotFoundError, or RunStateError when the run is not blocked.
    """
    info = await _existing(world, run_id)
    if info.status != RunStatus.BLOCKED:
        hint = (
            "; `wdk fork` it to run it again on the current code"
            if info.status in (RunStatus.TERMINAL)
            else ""
        )
        raise RunStateError(
            f"run {run_id} is {info.status}, not blocked: only a blocked run can be retried" + hint,
            run_id=run_id,
            status=info.status,
        )
    events = await world.read_events(run_id)
    messages = [m for m in rearm_messages(run_id, events) if await _not_live(world, m)]
    unblocked = NewEvent(
        EventType.RUN_UNBLOCKED, None, serde.encode({"at": time.time(), "by": "retry"})
    )
    await world.append(run_id, [unblocked], enqueue=[wf_message(run_id), *messages])


async def _not_live(world: World, message: NewMessage) -> bool:
    return await world.get_message(message.key) is None


def rearm_messages(run_id: str, events: Sequence[Event]) -> list[NewMessage]:
    """Messages for the steps and timers the log created and did not resolve."""
    created: dict[str, Event] = {}
    for event in events:
        cid = event.correlation_id
        if cid is None:
            continue
        if event.type in (EventType.STEP_CREATED, EventType.WAIT_CREATED):
            created[cid] = event
        elif event.type in (
            EventType.STEP_COMPLETED,
            EventType.STEP_FAILED,
            EventType.WAIT_COMPLETED,
        ):
            created.pop(cid, None)
    messages: list[NewMessage] = []
    for cid, event in created.items():
        if event.type == EventType.STEP_CREATED:
            messages.append(NewMessage("step", run_id, step_key(run_id, cid), event.data))
        else:
            resume_at = msgpack.unpackb(event.data or b"\x80", raw=False).get("resume_at", 0.0)
            messages.append(timer_message(run_id, cid, float(resume_at or 0.0)))
    return messages


#: Events a fork does not copy: the old run's life, not its recorded work.
_NOT_COPIED = frozenset(
    {
        EventType.RUN_CREATED,
        EventType.RUN_BLOCKED,
        EventType.RUN_UNBLOCKED,
        EventType.RUN_ADOPTED,
        *EventType.RUN_TERMINAL,
    }
)


def _fork_prefix(run_id: str, events: list[Event], from_step: int | None, status: str) -> int:
    """How many events of the log the fork keeps (after ``run_created``)."""
    completed = [i for i, e in enumerate(events) if e.type == EventType.STEP_COMPLETED]
    if from_step is None:
        failed = next((i for i, e in enumerate(events) if e.type == EventType.STEP_FAILED), None)
        return failed if failed is not None else len(events)
    if from_step < 0 or from_step > len(completed):
        raise RunStateError(
            f"--from-step {from_step} is out of range: run {run_id} completed "
            f"{len(completed)} step(s), so it is 0..{len(completed)}",
            run_id=run_id,
            status=status,
        )
    return completed[from_step - 1] + 1 if from_step else 1


def _copied(events: list[Event]) -> list[NewEvent]:
    """The fork's copy of a log prefix: its work, without attempts of unresolved steps."""
    resolved = {
        e.correlation_id
        for e in events
        if e.type in (EventType.STEP_COMPLETED, EventType.STEP_FAILED)
    }
    attempts = (EventType.STEP_STARTED, EventType.STEP_RETRYING)
    return [
        NewEvent(e.type, e.correlation_id, e.data, None if e.type in attempts else _key(e))
        for e in events
        if e.type not in _NOT_COPIED
        and not (e.type in attempts and e.correlation_id not in resolved)
    ]


def _key(event: Event) -> str | None:
    """The dedup key the worker gives such an event (kept so a fork's log reads the same)."""
    if event.type == EventType.PATCHED:
        return patch_key(str(msgpack.unpackb(event.data or b"\x80", raw=False).get("name")))
    return dedup_key(event.type, event.correlation_id)


async def fork_run(
    world: World,
    run_id: str,
    *,
    from_step: int | None = None,
    deployment_id: str | None = None,
    new_run_id: str | None = None,
) -> str:
    """Start a new run of ``run_id``'s workflow and input reusing its first steps' results.

    ``from_step`` N reuses the first N completed steps (in the order they completed); the
    default is every step completed before the first failed one. The new run records
    ``forked_from`` and runs the rest on the current code. Returns the new run's id.

    Raises WorkflowRunNotFoundError, or RunStateError when ``from_step`` is out of range
    (negative, or more steps than the run completed) or the run has nothing to fork from.
    """
    info = await _existing(world, run_id)
    events = await world.read_events(run_id)
    if not events or events[0].type != EventType.RUN_CREATED:
        raise RunStateError(
            f"run {run_id} has no history to fork from", run_id=run_id, status=info.status
        )
    keep = _fork_prefix(run_id, events, from_step, info.status)
    prefix = events[1:keep]
    start = dict(msgpack.unpackb(events[0].data or b"\x80", raw=False))
    start["forked_from"] = run_id
    deployment = deployment_id or current_deployment(str(start["workflow_id"]))
    if deployment is not None:
        start["deployment_id"] = deployment
    else:
        start.pop("deployment_id", None)
    start.setdefault("seed", run_id.encode())
    rid = new_run_id or make_run_id()
    created = NewEvent(
        EventType.RUN_CREATED, None, msgpack.packb(start, use_bin_type=True), "run:created"
    )
    messages = [wf_message(rid), *rearm_messages(rid, prefix)]
    await world.append(rid, [created, *_copied(prefix)], enqueue=messages, expect_seq=0)
    return rid


async def export_history(world: World, run_id: str) -> dict[str, Any]:
    """A run's history as a JSON-ready dict (format :data:`HISTORY_FORMAT`).

    ``data`` of each event is the base64 of its stored bytes, so a history replays exactly
    as it was recorded; the format is documented in docs/deploys.md.
    """
    info = await _existing(world, run_id)
    events = await world.read_events(run_id)
    return {
        "format": HISTORY_FORMAT,
        "run_id": run_id,
        "workflow_id": info.workflow_id,
        "deployment_id": info.deployment_id,
        "status": info.status,
        "exported_at": _iso(time.time()),
        "events": [
            {
                "seq": e.seq,
                "type": e.type,
                "correlation_id": e.correlation_id,
                "created_at": _iso(e.created_at),
                "data": base64.b64encode(e.data).decode() if e.data is not None else None,
            }
            for e in events
        ],
    }


def load_history(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """An exported history from a file path or a dict, checked (ValueError says what is off)."""
    where = "the history"
    if isinstance(source, dict):
        history = source
    else:
        where = str(source)
        try:
            history = json.loads(Path(source).read_text())
        except OSError as exc:
            raise ValueError(f"{where}: cannot read it ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(history, dict) or history.get("format") != HISTORY_FORMAT:
        got = history.get("format") if isinstance(history, dict) else type(history).__name__
        raise ValueError(
            f"{where}: not a wdk history (format {got!r}, expected {HISTORY_FORMAT!r}); make "
            "one with `wdk export RUN_ID`"
        )
    for field in ("run_id", "workflow_id", "events"):
        if field not in history:
            raise ValueError(f"{where}: the field {field!r} is missing")
    _events(history, where)
    history.setdefault("_source", where)
    return history


def _events(history: dict[str, Any], where: str = "the history") -> list[Event]:
    run_id = str(history["run_id"])
    raw = history["events"]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: 'events' must be a non-empty list")
    events: list[Event] = []
    for index, item in enumerate(raw):
        try:
            data = item["data"]
            events.append(
                Event(
                    run_id,
                    int(item["seq"]),
                    str(item["type"]),
                    item.get("correlation_id"),
                    base64.b64decode(data, validate=True) if data is not None else None,
                    _epoch(item.get("created_at")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: events[{index}] is malformed ({exc})") from None
    if events[0].type != EventType.RUN_CREATED:
        raise ValueError(f"{where}: events[0] must be run_created, not {events[0].type!r}")
    return events


def replay_history(history: dict[str, Any], project: Project) -> ReplayResult:
    """Replay one exported history against ``project``'s current code; writes nothing."""
    events = _events(history, str(history.get("_source", "the history")))
    return _replay(str(history["run_id"]), events, project, project_sandbox_config(project))


def _replay(run_id: str, events: list[Event], project: Project, config: Any) -> ReplayResult:
    inst = replay_events(run_id, events, project, config)
    block = inst.blocked
    if block is None:
        return ReplayResult(run_id, inst.workflow_id, True)
    return ReplayResult(
        run_id,
        inst.workflow_id,
        False,
        code=block.code,
        event=block.event,
        position=block.position,
        expected=block.expected,
        actual=block.actual,
        location=block.location,
        message=block.message,
        suggestion=block.suggestion or SUGGESTION,
    )


async def replay_runs(
    world: World,
    project: Project,
    *,
    run_id: str | None = None,
    workflow_id: str | None = None,
    statuses: tuple[str, ...] = ("running", "blocked"),
    limit: int | None = None,
) -> list[ReplayResult]:
    """Replay the selected runs' histories against ``project``; runs no step, writes nothing.

    By default every run that is ``running`` or ``blocked`` (``pending`` runs have no
    history to check).
    """
    config = project_sandbox_config(project)
    ids = [run_id] if run_id is not None else await _select(world, workflow_id, statuses, limit)
    results: list[ReplayResult] = []
    for rid in ids:
        events = await world.read_events(rid)
        if events and events[0].type == EventType.RUN_CREATED:
            results.append(_replay(rid, events, project, config))
    return results


async def _select(
    world: World, workflow_id: str | None, statuses: tuple[str, ...], limit: int | None
) -> list[str]:
    ids: list[str] = []
    for status in statuses:
        cursor: str | None = None
        while limit is None or len(ids) < limit:
            page = await world.list_runs(
                workflow_id=workflow_id, status=status, limit=500, cursor=cursor
            )
            ids += [r.run_id for r in page.runs]
            cursor = page.cursor
            if cursor is None:
                break
    return ids if limit is None else ids[:limit]


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def _epoch(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return datetime.datetime.fromisoformat(str(value)).timestamp()
