"""pydantic-ai durable operations as wdk steps: the backend, the registry and the step body.

Workflow side, a bound operation schedules one of the built-in steps ``ai.agent.model``,
``ai.agent.tool``, ``ai.agent.event`` or ``ai.agent.capability`` (by the operation's role)
with ``(agent module, agent name, operation name, label, JSON parameters)`` and awaits it.

Step side, :func:`run_operation` finds the agent's bound :class:`WdkDurability` in a
process-global registry, filled whenever an agent with the capability is constructed. A worker
that has not imported the agent's module yet (it crashed and another took over, or it only runs
steps) imports it by name first: that is why agents are defined at module level.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from pydantic_ai.durable_exec import (
    BoundDurableOperation,
    DurableOperation,
    JournalOperationNamer,
    RegisteredOperationBackend,
    RoleBasedOperationConfig,
    durable_unit_scope,
)
from pydantic_ai.exceptions import UserError

from wdk._context import current_or_none
from wdk.ai._durable_transports import WdkParameterTransports
from wdk.errors import FatalError, StepNotRegisteredError, WorkflowError
from wdk.runtime._proxies import StepFunction

if TYPE_CHECKING:
    from wdk.ai._durability import WdkDurability

__all__ = ["STEP_IDS", "StepConfig", "WdkOperationBackend", "register", "run_operation"]

ParamsT = TypeVar("ParamsT")
WireT = TypeVar("WireT")
ResultT = TypeVar("ResultT")

#: The built-in step each operation role runs as (see ``BUILTIN_STEPS`` in the loader).
STEP_IDS: dict[str, str] = {
    "model": "step//wdk//ai.agent.model",
    "tool": "step//wdk//ai.agent.tool",
    "event": "step//wdk//ai.agent.event",
    "capability": "step//wdk//ai.agent.capability",
}


class StepConfig(TypedDict, total=False):
    """wdk step options for a durable operation (per role, or per tool in its metadata)."""

    max_retries: int
    """Retries after the first attempt (wdk's default: 3)."""


class WdkBoundOperation(BoundDurableOperation[ParamsT, WireT, ResultT]):
    """Calling it inside a workflow runs the operation as one wdk step and awaits the result."""

    def __init__(
        self,
        operation: DurableOperation[ParamsT, WireT, ResultT],
        *,
        name: str,
        config: StepConfig,
        durability: WdkDurability[Any],
    ) -> None:
        self._operation = operation
        self._name = name
        self._config = config
        self._durability = durability
        self._step_id = STEP_IDS[operation.config_role]

    @property
    def operation(self) -> DurableOperation[ParamsT, WireT, ResultT]:
        """The operation this calls."""
        return self._operation

    async def __call__(self, params: ParamsT, *, config: object | None = None) -> ResultT:
        """Run the operation: as a step inside a workflow, inline anywhere else."""
        operation = self._operation
        if current_or_none() is None:
            with durable_unit_scope():
                return await operation.handler(params)
        step_config: StepConfig = config if isinstance(config, dict) else self._config  # type: ignore[assignment]
        label = operation.invocation_label(params) if operation.invocation_label else None
        payload = operation.parameter_transport.dump(params)
        step = StepFunction(self._step_id, max_retries=step_config.get("max_retries"))
        durability = self._durability
        future = step(durability.agent_module, durability.name, self._name, label, payload)
        result = await future.to_asyncio()
        return operation.result_codec.load(result)


class WdkOperationBackend(RegisteredOperationBackend[StepConfig]):
    """Registers each operation under its stable name, for :func:`run_operation` to find."""

    def __init__(
        self,
        durability: WdkDurability[Any],
        *,
        model: StepConfig,
        tool: StepConfig,
        resolve_tool: Callable[[Any, object | None, str], StepConfig | Literal[False]],
    ) -> None:
        super().__init__(
            namer=JournalOperationNamer(durability.name),
            config=RoleBasedOperationConfig(
                model=model, event=tool, capability=tool, tool=tool, resolve_tool=resolve_tool
            ),
            parameter_transports=WdkParameterTransports(durability),
        )
        self._durability = durability
        self.operations: dict[str, DurableOperation[Any, Any, Any]] = {}
        """Every bound operation by its persisted name."""

    def register(
        self,
        operation: DurableOperation[ParamsT, WireT, ResultT],
        *,
        name: str,
        config: StepConfig,
    ) -> tuple[BoundDurableOperation[ParamsT, WireT, ResultT], Sequence[Callable[..., object]]]:
        """Remember ``operation`` under ``name`` and return its step-scheduling caller."""
        if name in self.operations:
            raise WorkflowError(
                f"Two durable operations of agent {self._durability.name!r} are named {name!r}: "
                "give each toolset a unique `id`."
            )
        self.operations[name] = operation
        bound = WdkBoundOperation(operation, name=name, config=config, durability=self._durability)
        return bound, ()


# -- the process-global registry -----------------------------------------------------------

_registry: dict[str, WdkDurability[Any]] = {}
_registry_lock = threading.Lock()


def register(durability: WdkDurability[Any]) -> None:
    """Make a bound capability findable by its agent name in this process."""
    with _registry_lock:
        existing = _registry.get(durability.name)
        if existing is not None and existing.agent_module != durability.agent_module:
            raise WorkflowError(
                f"Two agents with WdkDurability are named {durability.name!r} (in modules "
                f"{existing.agent_module!r} and {durability.agent_module!r}). The name identifies "
                "an agent's durable steps in the event log: give each agent a unique `name`."
            )
        _registry[durability.name] = durability


def lookup(agent: str, module: str) -> WdkDurability[Any]:
    """The bound capability of ``agent``, importing ``module`` (where it is defined) if needed."""
    durability = _registry.get(agent)
    if durability is None and module:
        importlib.import_module(module)
        durability = _registry.get(agent)
    if durability is None:
        raise StepNotRegisteredError(
            f"no pydantic-ai agent named {agent!r} with WdkDurability is defined in this worker "
            f"(importing module {module!r} did not define it). Define the agent at module "
            "level, and keep its name while runs that used it are in flight.",
            step_id=f"agent {agent}",
        )
    return durability


async def run_operation(
    module: str, agent: str, operation: str, label: str | None, payload: Any
) -> Any:
    """The body of the ``ai.agent.*`` steps: run one durable operation of one agent."""
    durability = lookup(agent, module)
    backend = durability.get_durable_operation_backend()
    op = backend.operations.get(operation)
    if op is None:
        raise StepNotRegisteredError(
            f"agent {agent!r} has no durable operation {operation!r} in this worker: was a "
            "toolset renamed or removed while a run that used it was in flight?",
            step_id=operation,
        )
    try:
        params = op.parameter_transport.load(payload, runtime=durability)
        with durable_unit_scope():
            result = await op.handler(params)
        return op.result_codec.dump(result)
    except UserError as exc:
        # pydantic-ai's "this cannot work" (configuration, unknown tool, ...): retrying won't help.
        raise FatalError(f"{type(exc).__name__}: {exc}") from exc
