"""Replaying a run's log against code, with no worker: the deploy gate's engine.

:func:`replay_events` feeds a whole history to a fresh :class:`WorkflowInstance` and reports
whether the code makes the durable calls the log recorded. Nothing runs a step, sleeps or
writes: steps are only *called* (commands), never executed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wdk.errors import STEP_NOT_REGISTERED
from wdk.runtime._divergence import Block
from wdk.runtime._instance import RunStart, WorkflowInstance
from wdk.runtime._loader import Project, default_project
from wdk.runtime._proxies import step_decorator
from wdk.worlds.base import Event, EventType, World

__all__ = ["load_workflow", "project_sandbox_config", "replay", "replay_events"]


def project_sandbox_config(project: Project) -> Any:
    """The sandbox configuration in the project's pyproject.toml (``[tool.wdk]``)."""
    from wdk.sandbox import load_config

    return load_config(project.roots[0])


def load_workflow(
    project: Project, workflow_id: str, sandbox_config: Any = None, limiter: Any = None
) -> Callable[..., Any]:
    """The workflow function of ``workflow_id``, from a fresh sandbox (one per run).

    ``limiter``: the run's activation budget (``WorkflowInstance.limiter``).
    """
    from wdk.sandbox import WorkflowSandbox

    module_name, qualname = project.workflow_target(workflow_id)
    kwargs: dict[str, Any] = {"injected": {"__wdk_step__": step_decorator}, "limiter": limiter}
    if sandbox_config is not None:
        kwargs["config"] = sandbox_config
    sandbox = WorkflowSandbox(project.workflow_bundle, **kwargs)
    module = sandbox.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def replay_events(
    run_id: str, events: list[Event], project: Project, sandbox_config: Any = None
) -> WorkflowInstance:
    """A fresh instance fed the whole of ``events`` on ``project``'s code (then closed).

    Look at its ``blocked`` (a divergence or missing code) and ``outcome``. A step the code
    calls that ``project`` does not have also blocks it (``STEP_NOT_REGISTERED``): a worker
    would park the run there.
    """
    from wdk.sandbox import DEFAULT_WORKFLOW_BUDGET_S

    inst = WorkflowInstance(
        run_id,
        RunStart.from_event(events[0]),
        load_workflow=lambda i: load_workflow(project, i.workflow_id, sandbox_config, i.limiter),
        log_sink=lambda _run, _text: None,
        is_user_module=lambda name: project.locate(name) is not None,
        locate=project.relative_location,
        budget_s=getattr(sandbox_config, "workflow_budget_s", DEFAULT_WORKFLOW_BUDGET_S),
    )
    try:
        inst.mark_replay(events)
        inst.log_closed = any(e.type in EventType.RUN_TERMINAL for e in events)
        inst.feed([e for e in events if e.type not in EventType.RUN_TERMINAL])
        if inst.blocked is None:
            missing = next((s for s in inst.step_ids() if not project.has_step(s)), None)
            if missing is not None:
                inst.block(
                    Block(
                        STEP_NOT_REGISTERED,
                        f"step {missing} is not registered in this code, and the run calls "
                        "it. Was it renamed or moved since the run started?",
                        actual=f"no step {missing}",
                        suggestion="keep the step (or an alias with the same id) until runs "
                        "that call it have finished",
                    )
                )
        return inst
    finally:
        inst.close()


async def replay(world: World, run_id: str, project: Project | None = None) -> Any:
    """Re-run a run's workflow code against its log alone (no cache, no writes).

    Returns the instance's outcome (None if the log does not reach the run's end): for a
    finished run it must equal what the live run recorded.
    """
    events = await world.read_events(run_id)
    if not events:
        return None
    proj = project or default_project()
    inst = replay_events(run_id, events, proj, project_sandbox_config(proj))
    return inst.outcome
