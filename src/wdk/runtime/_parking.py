"""Parking runs the worker's code cannot advance, and trying them again on other code.

A run is *blocked* (``run_blocked``), never failed, when its code diverged from its log or a
workflow or step it needs is missing from this worker's code: a deploy problem, not a user
error. The block records the source versions of the user modules involved (``tried``: those
of every code that has blocked the run so far). A worker whose versions are among them would
block it the same way, so it leaves it be (no hot loop, and no ping-pong between an old and
a new fleet); a worker whose code differs (a rollback, a fix) tries it again, when it starts
and then every ``sweep`` seconds, so a fleet already running when an older worker parks a
run still picks it up.
"""

from __future__ import annotations

import logging
from typing import Any

from wdk import serde
from wdk.errors import STEP_NOT_REGISTERED, BuildError, RunStateError, StepNotRegisteredError
from wdk.runtime._deploys import retry_run
from wdk.runtime._divergence import Block
from wdk.runtime._instance import WorkflowInstance
from wdk.runtime._loader import Project, module_name_of, parse_id
from wdk.worlds.base import EventType, NewEvent, RunStatus, World

__all__ = [
    "block_event",
    "is_missing_code",
    "retry_blocked",
    "same_code",
    "step_block_event",
]

log = logging.getLogger("wdk.worker")


def is_missing_code(exc: BaseException | None) -> bool:
    """Whether a step failed to load because this code lacks it (a deploy problem)."""
    return isinstance(exc, StepNotRegisteredError | BuildError)


def _module_of(ident: str) -> list[str]:
    """The module a workflow or step id lives in (none for an id of another form)."""
    try:
        return [module_name_of(parse_id(ident)[1])]
    except ValueError:
        return []


def block_event(
    inst: WorkflowInstance, block: Block, project: Project, worker_id: str, now: float
) -> NewEvent:
    """The ``run_blocked`` event for ``inst``: the block plus the code versions behind it."""
    modules = inst.user_modules() or _module_of(inst.workflow_id)
    tried = [t for data in inst.logged_blocks for t in _tried(data)]
    return _event(block, project.module_versions(modules), worker_id, now, tried)


def _event(
    block: Block,
    modules: dict[str, str | None],
    worker_id: str,
    now: float,
    earlier: list[dict[str, Any]] | None = None,
) -> NewEvent:
    tried = [m for m in earlier or [] if m != modules] + [modules]
    data = {**block.as_dict(), "modules": modules, "tried": tried, "worker": worker_id, "at": now}
    return NewEvent(EventType.RUN_BLOCKED, None, serde.encode(data))


def _tried(data: bytes | None) -> list[dict[str, Any]]:
    """The code versions a block says have tried the run (its own ``modules`` at least)."""
    block = _decode_block(data)
    tried = block.get("tried")
    if not isinstance(tried, list):
        tried = [block.get("modules")]
    return [m for m in tried if isinstance(m, dict) and m]


def step_block_event(
    run_id: str, step_id: str, exc: BaseException, project: Project, worker_id: str, now: float
) -> NewEvent:
    """The ``run_blocked`` event for a step this code does not have."""
    block = Block(
        STEP_NOT_REGISTERED,
        f"run {run_id} calls step {step_id}, which this code does not have: {exc}",
        actual=f"no step {step_id}",
        suggestion="deploy code that has the step (or roll back), then `wdk retry`; or "
        "`wdk cancel` the run",
    )
    return _event(block, project.module_versions(_module_of(step_id)), worker_id, now)


def _decode_block(data: bytes | None) -> dict[str, Any]:
    try:
        value = serde.decode(data) if data else {}
    except Exception:  # noqa: BLE001 - an unreadable block is retried like a foreign one
        return {}
    return value if isinstance(value, dict) else {}


def same_code(data: bytes | None, project: Project) -> bool:
    """Whether ``project`` is a code that has blocked this run already (it would again)."""
    return any(project.module_versions(list(m)) == m for m in _tried(data))


async def retry_blocked(world: World, project: Project, *, deployment_id: str | None) -> int:
    """Try again every blocked run whose block this code did not write; how many it tried.

    Called when a worker starts: its code may be the rollback or fix those runs wait for.
    """
    tried, cursor = 0, None
    while True:
        page = await world.list_runs(
            status=RunStatus.BLOCKED, limit=200, cursor=cursor, deployment_id=deployment_id
        )
        for info in page.runs:
            if same_code(info.error, project):
                continue
            try:
                await retry_run(world, info.run_id)
            except RunStateError:
                continue  # cancelled or retried meanwhile
            tried += 1
            log.info("run %s was blocked on other code; trying it again", info.run_id)
        cursor = page.cursor
        if cursor is None:
            return tried
