"""``WdkDurability``: an unmodified pydantic-ai ``Agent`` runs durably inside a wdk workflow.

pydantic-ai's durable-execution extension point keeps the agent graph in the engine's workflow
and turns every model request and tool call into a durable unit. Here the graph runs as library
code on the workflow's deterministic scheduler (its asyncio face, ``WorkflowLoop``), and each
unit is one wdk step: recorded in the event log, retried per wdk's rules, never re-run on replay.

Workflow-side determinism: the graph's interleaving comes from the scheduler's FIFO queue; the
run id, conversation id, run clock and start time come from the workflow (hooks below); tool
call ids come from model responses, which are step results. Message timestamps that the graph
stamps in workflow code are wall-clock values; nothing the workflow decides depends on them, and
wdk checks replay against the order and names of durable calls, not their arguments.

How a step finds the agent: see ``_durable_ops.py``. Why the agent lives in a module listed in
``[tool.wdk] sandbox-allowed-modules``: user modules imported by workflow code are re-executed
inside the sandbox per run, which would rebuild the agent (and its tools) as restricted code;
an allow-listed module is imported once, for real, by workflow code and steps alike.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic_ai import Agent
from pydantic_ai.agent import EventStreamHandler
from pydantic_ai.agent.abstract import AbstractAgent
from pydantic_ai.capabilities.abstract import WrapRunHandler
from pydantic_ai.durable_exec import (
    JSON_CODEC,
    BaseDurabilityCapability,
    DurabilityEngineSpec,
    DurableRunContext,
    conversation_id_from_run_id,
)
from pydantic_ai.durable_exec._utils import disable_threads
from pydantic_ai.models import Model
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import AgentDepsT, RunContext

from wdk._context import WorkflowContext, current_or_none
from wdk.ai._durable_ops import StepConfig, WdkOperationBackend, register
from wdk.errors import FatalError, SandboxError, WorkflowError
from wdk.runtime._concurrency import sleep_future

__all__ = ["WDK_ENGINE_SPEC", "WdkDurability"]


def _serialization_failure(exc: Exception) -> BaseException:
    return FatalError(
        f"a pydantic-ai durable operation returned a value that cannot be stored as JSON: {exc}"
    )


#: How pydantic-ai's durable-execution base sees wdk.
WDK_ENGINE_SPEC = DurabilityEngineSpec(
    engine_name="wdk",
    durable_unit_noun="step",
    durable_unit_plural="steps",
    durable_container_noun="workflow",
    codec=JSON_CODEC,
    serialization_failure=_serialization_failure,
    # A step may run in another worker process, which finds the toolset by its id on the
    # module-level agent: toolsets added per run have no registered steps there.
    unsupported_runtime_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
    wrapped_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
    toolset_lifecycles={
        "function": "enter-outside-durable",
        "mcp": "enter-outside-durable",
        "dynamic": "enter-never",
    },
    tool_call_result_upgrade_lenient=False,
    journal_discovery=True,
    sequential_tools_in_durable_context=False,
    tool_config_key="wdk",
    accepts_cancellation_token=False,
)

_SKIPPED_FRAMES = ("pydantic_ai", "wdk.ai", "importlib", "abc", "contextlib", "functools")

# Agent runs started so far in each workflow run, for replay-stable default run ids.
_run_counters: weakref.WeakKeyDictionary[Any, Iterator[int]] = weakref.WeakKeyDictionary()


@dataclass(init=False, kw_only=True)
class WdkDurability(BaseDurabilityCapability[AgentDepsT]):
    """Makes a pydantic-ai ``Agent`` durable inside wdk workflows.

    Example::

        # support.py, listed in [tool.wdk] sandbox-allowed-modules
        from pydantic_ai import Agent
        from wdk.ai import WdkDurability

        agent = Agent("openai:gpt-4o", name="support", capabilities=[WdkDurability()])

        # flows.py
        from support import agent

        async def answer(question: str) -> str:
            "use workflow"
            result = await agent.run(question)
            return result.output

    Inside a workflow every model request and every tool call of ``agent.run``/``run_stream``
    is one wdk step (``ai.agent.model`` / ``ai.agent.tool``); outside one the capability does
    nothing. See docs/ai.md for what else is durable and the limits.
    """

    engine_spec = WDK_ENGINE_SPEC

    run_context_type: type[DurableRunContext[AgentDepsT]]
    """The ``DurableRunContext`` (subclass) tools and models see inside a step."""

    def __init__(
        self,
        *,
        models: Mapping[str, Model] | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        name: str | None = None,
        model_max_retries: int | None = None,
        tool_max_retries: int | None = None,
        run_context_type: type[DurableRunContext[AgentDepsT]] = DurableRunContext,
    ) -> None:
        """Create the capability; the agent's model, name and toolsets are found when it binds.

        Args:
            models: Extra models by key, for ``agent.run(model=...)`` inside a workflow; the
                agent's own model is registered as ``"default"``. Model-name strings need no
                registration: they are built inside the step.
            event_stream_handler: Receives the run's events inside steps: model events live in
                the model step, every other event in an ``ai.agent.event`` step of its own.
            name: The name in the agent's step records; defaults to the agent's ``name``.
            model_max_retries: Retries of a failed model request step (wdk's default: 3).
            tool_max_retries: Retries of a failed tool step (wdk's default: 3); a tool may set
                its own with ``metadata={"wdk": {"max_retries": n}}``.
            run_context_type: A ``DurableRunContext`` subclass, to carry more ``RunContext``
                fields into steps (override ``serialize_run_context``).
        """
        super().__init__(models=models, event_stream_handler=event_stream_handler, name=name)
        self.run_context_type = run_context_type
        self._model_config: StepConfig = _step_config(model_max_retries)
        self._tool_config: StepConfig = _step_config(tool_max_retries)
        self._backend: WdkOperationBackend | None = None
        self.agent_module = ""
        """The module the agent is defined in (a step in another process imports it)."""
        self.deps_type: Any = type(None)
        """The agent's ``deps_type``: what ``deps`` are validated as inside a step."""

    # -- binding ---------------------------------------------------------------------------
    def _bind_to_agent(self, agent: AbstractAgent[AgentDepsT, Any]) -> None:
        self.agent_module = _defining_module()
        self.deps_type = agent.deps_type
        self._backend = WdkOperationBackend(
            self, model=self._model_config, tool=self._tool_config, resolve_tool=self._tool_step
        )
        if self._event_stream_handler is not None:
            # Bound now (not on first use) so a step in another process finds it by name.
            self._bound_event_operation = self._bind_event_operation(self._backend)
        self._register_toolsets(agent)
        register(self)

    def get_durable_operation_backend(self) -> WdkOperationBackend:
        """The backend that turns operations into wdk steps."""
        if self._backend is None:
            raise WorkflowError("WdkDurability is used before it was bound to an agent.")
        return self._backend

    def _tool_step(
        self, operation_id: Any, tool: object | None, name: str
    ) -> StepConfig | Literal[False]:
        metadata = getattr(getattr(tool, "tool_def", None), "metadata", None) or {}
        config = metadata.get("wdk")
        if config is None:
            return self._tool_config
        if config is False:
            if getattr(operation_id, "toolset_kind", "function") != "function":
                raise WorkflowError(
                    f"Tool {name!r} has metadata {{'wdk': False}}, but only function tools may "
                    "run as workflow code: dynamic and MCP tools do I/O, so each call is a step."
                )
            return False
        if not isinstance(config, dict):
            raise WorkflowError(
                f"Tool {name!r} has metadata {{'wdk': {config!r}}}: expected a dict of step "
                "options such as {'max_retries': 5}, or False to run the tool as workflow code."
            )
        return {**self._tool_config, **_step_config(config.get("max_retries"))}

    def restore_run_context(self, serialized: Mapping[str, Any], deps: Any) -> RunContext[Any]:
        """The ``RunContext`` of a step, rebuilt from its serialized form (step side)."""
        return self.run_context_type.restore(
            serialized, deps=deps, agent=self._agent, engine_spec=self.engine_spec
        )

    # -- the durable context -----------------------------------------------------------------
    @property
    def in_durable_context(self) -> bool:
        """Whether this is workflow code of a running wdk workflow (not a step)."""
        return current_or_none() is not None

    def get_default_run_id(self) -> str | None:
        """``<wdk run id>:agent-<n>``, n counting the workflow's agent runs: replay-stable."""
        ctx = current_or_none()
        if ctx is None:
            return None
        counter = _run_counters.get(ctx)
        if counter is None:
            counter = _run_counters[ctx] = itertools.count()
        return f"{ctx.run_id}:agent-{next(counter)}"

    def get_default_conversation_id(self, run_id: str) -> str | None:
        """Derived from the (replay-stable) run id inside a workflow."""
        return conversation_id_from_run_id(run_id) if self.in_durable_context else None

    def get_run_clock(self) -> Callable[[], _dt.datetime] | None:
        """The workflow clock inside a workflow, so deadlines replay."""
        ctx = current_or_none()
        return None if ctx is None else _clock(ctx)

    async def get_run_start_time(self, run_id: str) -> _dt.datetime | None:
        """The workflow clock's now, inside a workflow."""
        ctx = current_or_none()
        return None if ctx is None else _clock(ctx)()

    async def wrap_run(
        self, ctx: RunContext[AgentDepsT], *, handler: WrapRunHandler
    ) -> AgentRunResult[Any]:
        """In a workflow: sync callbacks inline (no threads), graph delays as durable sleeps."""
        if not self.in_durable_context:
            return await handler()
        with disable_threads(), Agent.using_sleep(_durable_sleep):
            return await super().wrap_run(ctx, handler=handler)


def _step_config(max_retries: int | None) -> StepConfig:
    if max_retries is None:
        return {}
    if not isinstance(max_retries, int) or max_retries < 0:
        raise WorkflowError(f"max_retries must be a non-negative int, got {max_retries!r}")
    return {"max_retries": max_retries}


def _clock(ctx: WorkflowContext) -> Callable[[], _dt.datetime]:
    def now() -> _dt.datetime:
        return _dt.datetime.fromtimestamp(ctx.now(), _dt.UTC)

    return now


async def _durable_sleep(delay: float) -> None:
    await sleep_future(max(delay, 0.0)).to_asyncio()


def _defining_module() -> str:
    """The module whose code is constructing the agent (the first frame outside the libraries)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not any(name == root or name.startswith(root + ".") for root in _SKIPPED_FRAMES):
            if "wdk sandbox" in frame.f_globals:
                raise SandboxError(
                    "An Agent with WdkDurability is being constructed in workflow code. Define "
                    "it at module level in a module of its own, and list that module in "
                    "[tool.wdk] sandbox-allowed-modules in pyproject.toml, so workflow code and "
                    "the steps of any worker use the same agent (see docs/ai.md)."
                )
            return str(name)
        frame = frame.f_back  # type: ignore[assignment]
    return ""
