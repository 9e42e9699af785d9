"""How pydantic-ai's durable operation parameters cross into a wdk step: as plain JSON data.

A step's arguments are written to the event log and may be read by another worker process,
so every ``*Params`` object is dumped to JSON-able data with pydantic (the same adapters
pydantic-ai uses for its own message history) and rebuilt on the step side. The run context
travels as :meth:`DurableRunContext.serialize_run_context` data and is rebuilt with
:meth:`DurableRunContext.restore` against the step process's own agent; ``deps`` travel as the
agent's ``deps_type``. Models, clients and keys never travel: the step rebuilds the model
from its registry key (see ``_durability.py``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import TypeAdapter
from pydantic_ai.durable_exec import (
    CapabilityMethodDeclaration,
    CapabilityOperationParams,
    DynamicToolsetCallToolParams,
    EventStreamHandlerParams,
    ModelCancelSuspendedResponseParams,
    ModelCompactMessagesParams,
    ModelRequestParams,
    ParameterTransport,
    ParameterTransports,
    ToolsetCallToolParams,
    ToolsetGetToolsParams,
    WorkspaceCall,
    WorkspaceCallParams,
    revalidate_function_call,
)
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import AgentStreamEvent, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import Model, ModelRequestContext, ModelRequestParameters
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, DynamicToolset, FunctionToolset
from pydantic_ai.toolsets.function import FunctionToolsetTool
from pydantic_ai.workspaces import WorkspaceRef
from pydantic_core import PydanticSerializationError

from wdk.errors import SerializationError

if TYPE_CHECKING:
    from wdk.ai._durability import WdkDurability

__all__ = ["WdkParameterTransports"]

ParamsT = TypeVar("ParamsT")
Wire = dict[str, Any]

_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_OPTIONAL_DICT: TypeAdapter[dict[str, Any] | None] = TypeAdapter(dict[str, Any] | None)
_REQUEST_PARAMETERS: TypeAdapter[ModelRequestParameters] = TypeAdapter(ModelRequestParameters)
_TOOL_DEF: TypeAdapter[ToolDefinition | None] = TypeAdapter(ToolDefinition | None)
_RESPONSE: TypeAdapter[ModelResponse] = TypeAdapter(ModelResponse)
_EVENT: TypeAdapter[AgentStreamEvent] = TypeAdapter(AgentStreamEvent)
_WORKSPACE_CALL: TypeAdapter[WorkspaceCall] = TypeAdapter(WorkspaceCall)
_WORKSPACE_REF: TypeAdapter[WorkspaceRef | None] = TypeAdapter(WorkspaceRef | None)


@cache
def _deps_adapter(deps_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(deps_type)


def _dump(adapter: TypeAdapter[Any], value: Any, what: str) -> Any:
    try:
        return adapter.dump_python(value, mode="json")
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} cannot cross into a wdk step ({exc}). Everything a pydantic-ai durable "
            "operation passes to its step is written to the event log as JSON: keep `deps` "
            "plain data (a dataclass or pydantic model of serializable fields) and create "
            "clients inside tools or at module level.",
            path=what,
        ) from exc


class _Transport(ParameterTransport[ParamsT, Wire], Generic[ParamsT]):
    """Shared run-context and deps handling for every operation kind."""

    def __init__(self, durability: WdkDurability[Any]) -> None:
        self._durability = durability

    def _context_wire(self, ctx: Any) -> Wire:
        serialized = self._durability.run_context_type.serialize_run_context(ctx)
        return {
            "run_context": _dump(_ANY, serialized, "run context"),
            "deps": _dump(_deps_adapter(self._durability.deps_type), ctx.deps, "deps"),
        }

    def _context(self, payload: Wire) -> Any:
        deps = _deps_adapter(self._durability.deps_type).validate_python(payload["deps"])
        return self._durability.restore_run_context(payload["run_context"], deps)


class _ModelRequestTransport(_Transport[ModelRequestParams]):
    def dump(self, params: ModelRequestParams) -> Wire:
        return {
            "model_id": params.model_id,
            "messages": _dump(ModelMessagesTypeAdapter, params.messages, "messages"),
            "model_settings": _dump(_OPTIONAL_DICT, params.model_settings, "model_settings"),
            "model_request_parameters": _dump(
                _REQUEST_PARAMETERS, params.model_request_parameters, "model_request_parameters"
            ),
            **self._context_wire(params.run_context),
        }

    def load(self, payload: Wire, *, runtime: object) -> ModelRequestParams:
        return ModelRequestParams(
            payload["model_id"],
            messages=ModelMessagesTypeAdapter.validate_python(payload["messages"]),
            model_settings=cast(Any, payload["model_settings"]),
            model_request_parameters=_REQUEST_PARAMETERS.validate_python(
                payload["model_request_parameters"]
            ),
            run_context=self._context(payload),
        )


class _CompactMessagesTransport(_Transport[ModelCompactMessagesParams]):
    def dump(self, params: ModelCompactMessagesParams) -> Wire:
        request = params.request_context
        return {
            "model_id": params.model_id,
            "messages": _dump(ModelMessagesTypeAdapter, request.messages, "messages"),
            "model_settings": _dump(_OPTIONAL_DICT, request.model_settings, "model_settings"),
            "model_request_parameters": _dump(
                _REQUEST_PARAMETERS, request.model_request_parameters, "model_request_parameters"
            ),
            "streaming": request.streaming,
            "instructions": params.instructions,
            **self._context_wire(params.run_context),
        }

    def load(self, payload: Wire, *, runtime: object) -> ModelCompactMessagesParams:
        request = ModelRequestContext(
            model=cast(Model, None),  # the step's model is set by the operation
            messages=ModelMessagesTypeAdapter.validate_python(payload["messages"]),
            model_settings=cast(Any, payload["model_settings"]),
            model_request_parameters=_REQUEST_PARAMETERS.validate_python(
                payload["model_request_parameters"]
            ),
        )
        request.model_id = payload["model_id"]
        request.streaming = bool(payload["streaming"])
        return ModelCompactMessagesParams(
            payload["model_id"],
            request_context=request,
            instructions=payload["instructions"],
            run_context=self._context(payload),
        )


class _CancelTransport(_Transport[ModelCancelSuspendedResponseParams]):
    def dump(self, params: ModelCancelSuspendedResponseParams) -> Wire:
        wire: Wire = {
            "model_id": params.model_id,
            "response": _dump(_RESPONSE, params.response, "response"),
        }
        if params.run_context is not None:
            wire.update(self._context_wire(params.run_context))
        return wire

    def load(self, payload: Wire, *, runtime: object) -> ModelCancelSuspendedResponseParams:
        return ModelCancelSuspendedResponseParams(
            payload["model_id"],
            response=_RESPONSE.validate_python(payload["response"]),
            run_context=self._context(payload) if "run_context" in payload else None,
        )


class _EventTransport(_Transport[EventStreamHandlerParams]):
    def dump(self, params: EventStreamHandlerParams) -> Wire:
        return {
            "event": _dump(_EVENT, params.event, "event"),
            **self._context_wire(params.run_context),
        }

    def load(self, payload: Wire, *, runtime: object) -> EventStreamHandlerParams:
        return EventStreamHandlerParams(
            _EVENT.validate_python(payload["event"]), run_context=self._context(payload)
        )


class _CapabilityTransport(_Transport[CapabilityOperationParams]):
    def dump(self, params: CapabilityOperationParams) -> Wire:
        return {
            "arguments": _dump(_ANY, params.arguments, "capability operation arguments"),
            "model_id": params.model_id,
            **self._context_wire(params.run_context),
        }

    def load(self, payload: Wire, *, runtime: object) -> CapabilityOperationParams:
        return CapabilityOperationParams(
            self._context(payload), arguments=payload["arguments"], model_id=payload["model_id"]
        )


class _WorkspaceTransport(_Transport[WorkspaceCallParams]):
    def dump(self, params: WorkspaceCallParams) -> Wire:
        return {
            "call": _dump(_WORKSPACE_CALL, params.call, "workspace call"),
            "ref": _dump(_WORKSPACE_REF, params.ref, "workspace ref"),
            **self._context_wire(params.run_context),
        }

    def load(self, payload: Wire, *, runtime: object) -> WorkspaceCallParams:
        return WorkspaceCallParams(
            run_context=self._context(payload),
            ref=_WORKSPACE_REF.validate_python(payload["ref"]),
            call=_WORKSPACE_CALL.validate_python(payload["call"]),
        )


class _GetToolsTransport(_Transport[ToolsetGetToolsParams]):
    def dump(self, params: ToolsetGetToolsParams) -> Wire:
        return self._context_wire(params.ctx)

    def load(self, payload: Wire, *, runtime: object) -> ToolsetGetToolsParams:
        return ToolsetGetToolsParams(self._context(payload))


class _FunctionCallTransport(_Transport[ToolsetCallToolParams]):
    def __init__(self, durability: WdkDurability[Any], toolset: AbstractToolset[Any]) -> None:
        super().__init__(durability)
        self._toolset = toolset

    def dump(self, params: ToolsetCallToolParams) -> Wire:
        tool = params.tool
        return {
            "name": params.name,
            "tool_args": _dump(_ANY, params.tool_args, f"arguments of tool {params.name!r}"),
            "tool_def": _dump(_TOOL_DEF, tool.tool_def if tool is not None else None, "tool"),
            "original_name": tool.original_name if isinstance(tool, FunctionToolsetTool) else None,
            **self._context_wire(params.ctx),
        }

    def load(self, payload: Wire, *, runtime: object) -> ToolsetCallToolParams:
        ctx = self._context(payload)
        name = payload["name"]
        tool_def = _TOOL_DEF.validate_python(payload["tool_def"])
        tool: Any = None
        if tool_def is not None:
            try:
                tool = self._tool_for(tool_def, ctx, payload.get("original_name"))
            except KeyError as exc:
                raise UserError(
                    f"Tool {name!r} is not in toolset {self._toolset.id!r} of this worker's agent: "
                    "a tool was renamed or removed while a run that called it was in flight."
                ) from exc
        return ToolsetCallToolParams(name, tool_args=payload["tool_args"], ctx=ctx, tool=tool)

    def _tool_for(self, tool_def: ToolDefinition, ctx: Any, original_name: str | None) -> Any:
        toolset: Any = self._toolset
        if isinstance(toolset, FunctionToolset):
            return toolset.tool_for_tool_def(tool_def, ctx=ctx, original_name=original_name)
        return toolset.tool_for_tool_def(tool_def, ctx=ctx)


class _DynamicCallTransport(_Transport[DynamicToolsetCallToolParams]):
    def dump(self, params: DynamicToolsetCallToolParams) -> Wire:
        return {
            "name": params.name,
            "tool_args": _dump(_ANY, params.tool_args, f"arguments of tool {params.name!r}"),
            "tool_def": _dump(_TOOL_DEF, params.tool_def, "tool"),
            **self._context_wire(params.ctx),
        }

    def load(self, payload: Wire, *, runtime: object) -> DynamicToolsetCallToolParams:
        return DynamicToolsetCallToolParams(
            payload["name"],
            tool_args=payload["tool_args"],
            ctx=self._context(payload),
            tool_def=_TOOL_DEF.validate_python(payload["tool_def"]),
        )


class WdkParameterTransports(ParameterTransports):
    """Every durable operation's parameters as JSON step arguments (see the module docstring)."""

    def __init__(self, durability: WdkDurability[Any]) -> None:
        self._durability = durability

    def model_request(self, result_type: object) -> _ModelRequestTransport:
        """Model requests, streamed or not."""
        return _ModelRequestTransport(self._durability)

    def compact_messages(self) -> _CompactMessagesTransport:
        """Message compaction."""
        return _CompactMessagesTransport(self._durability)

    def cancel_suspended_response(self) -> _CancelTransport:
        """Cancelling a suspended (batch) response."""
        return _CancelTransport(self._durability)

    def event_stream_handler(self) -> _EventTransport:
        """One event for the capability's event stream handler."""
        return _EventTransport(self._durability)

    def capability_operation(
        self, declaration: CapabilityMethodDeclaration
    ) -> _CapabilityTransport:
        """A capability's ``@durable_operation`` method."""
        return _CapabilityTransport(self._durability)

    def workspace_call(self) -> _WorkspaceTransport:
        """A workspace call."""
        return _WorkspaceTransport(self._durability)

    def function_call(self, toolset: FunctionToolset[Any]) -> _FunctionCallTransport:
        """Function tool calls (and their argument validation)."""
        return _FunctionCallTransport(self._durability, toolset)

    async def prepare_function_call(
        self, toolset: FunctionToolset[Any], params: ToolsetCallToolParams
    ) -> ToolsetCallToolParams:
        """Validate JSON arguments again, so the tool gets the Python values it declares."""
        from wdk.ai._durability import WDK_ENGINE_SPEC

        return await revalidate_function_call(toolset, params, engine_spec=WDK_ENGINE_SPEC)

    def mcp_call(self, toolset: AbstractToolset[Any]) -> _FunctionCallTransport:
        """MCP tool calls."""
        return _FunctionCallTransport(self._durability, toolset)

    def get_tools(self, toolset: AbstractToolset[Any]) -> _GetToolsTransport:
        """MCP tool discovery."""
        return _GetToolsTransport(self._durability)

    def get_instructions(self, toolset: AbstractToolset[Any]) -> _GetToolsTransport:
        """MCP instructions."""
        return _GetToolsTransport(self._durability)

    def dynamic_get_tools(self, toolset: DynamicToolset[Any]) -> _GetToolsTransport:
        """Dynamic toolset resolution and discovery."""
        return _GetToolsTransport(self._durability)

    def dynamic_call(self, toolset: DynamicToolset[Any]) -> _DynamicCallTransport:
        """Dynamic tool calls (and their argument validation)."""
        return _DynamicCallTransport(self._durability)
