"""Agent tools: ``wdk.ai.tool(...)``, input schemas and validation, and running a tool call.

A tool is a function plus a description, an input schema and an approval rule. Where the
function runs decides its durability:

* a ``"use step"`` function (a :class:`~wdk.runtime.StepFunction` in workflow code) is called
  as a durable step: retried on errors, run once, its result in the event log;
* any other function runs at workflow level, so it may ``await wdk.sleep(...)`` or wait on a
  hook, and must not do I/O.

Schemas: an explicit ``input_schema`` (a pydantic model class or a JSON schema dict) is turned
into JSON schema in workflow code; without one the schema comes from the function's type hints
through pydantic. A step's signature is not visible in workflow code (the workflow bundle holds
a proxy), so for a step tool without ``input_schema`` the model step derives the schema and
validates the model's input from the real function (see ``_model_step``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wdk.ai._messages import tool_output
from wdk.runtime._proxies import StepFunction

__all__ = ["Tool", "ToolOutcome", "input_model", "tool"]

Approval = bool | Callable[[Any], bool | Awaitable[bool]]


@dataclass(frozen=True)
class Tool:
    """A tool the model may call; build it with :func:`tool`."""

    fn: Callable[..., Any]
    """The function; called with the validated input as keyword arguments."""
    description: str | None = None
    """What the tool does, for the model."""
    input_schema: Any = None
    """A pydantic model class, a JSON schema dict, or None to derive it from type hints."""
    needs_approval: Approval = False
    """True, or a predicate on the input (sync or async), to ask a human before running."""

    @property
    def is_step(self) -> bool:
        """Whether the function is a durable step."""
        return isinstance(self.fn, StepFunction)


def tool(
    fn: Callable[..., Any],
    *,
    description: str | None = None,
    input_schema: Any = None,
    needs_approval: Approval = False,
) -> Tool:
    """Describe a tool for :class:`~wdk.ai.DurableAgent`.

    Args:
        fn: The tool function, called with the input as keyword arguments. A ``"use step"``
            function is durable and retried; any other runs at workflow level.
        description: Shown to the model. Defaults to the function's docstring (for plain
            functions; a step's docstring is its directive).
        input_schema: A pydantic model class or a JSON schema dict; by default derived from
            the function's type hints.
        needs_approval: True, or a predicate ``(input) -> bool`` (may be async), to wait for a
            human decision before running (see docs/ai.md, "Tool approval").
    """
    if not callable(fn):
        raise TypeError(f"tool() needs a function, got {type(fn).__name__}")
    return Tool(fn, description, input_schema, needs_approval)


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """A :class:`Tool` from a Tool or a bare function."""
    return value if isinstance(value, Tool) else tool(value)


def input_model(fn: Callable[..., Any]) -> Any:
    """A pydantic model of a function's keyword parameters (from its type hints)."""
    import pydantic

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable string annotations: fall back below
        raw = getattr(fn, "__annotations__", {})
        hints = {k: v for k, v in raw.items() if not isinstance(v, str)}
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    return pydantic.create_model(f"{getattr(fn, '__name__', 'tool')}_input", **fields)


def _is_model_class(value: Any) -> bool:
    import pydantic

    return isinstance(value, type) and issubclass(value, pydantic.BaseModel)


def describe(name: str, spec: Tool) -> dict[str, Any]:
    """The tool's definition as data for the model step (``parameters`` None: derive there)."""
    schema: Any = None
    if _is_model_class(spec.input_schema):
        schema = spec.input_schema.model_json_schema()
    elif isinstance(spec.input_schema, Mapping):
        schema = dict(spec.input_schema)
    elif not spec.is_step:
        schema = input_model(spec.fn).model_json_schema()
    description = spec.description
    if description is None and not spec.is_step:
        description = inspect.getdoc(spec.fn)
    return {
        "name": name,
        "description": description,
        "parameters": schema,
        "step": spec.fn if spec.is_step and schema is None else None,
    }


def validate_input(spec: Tool, value: Any) -> dict[str, Any]:
    """The keyword arguments for the tool, or ValueError with a message for the model."""
    import pydantic

    if not isinstance(value, Mapping):
        raise ValueError(f"tool input must be a JSON object, got {value!r}")
    if isinstance(spec.input_schema, Mapping):
        required = spec.input_schema.get("required") or ()
        missing = [k for k in required if k not in value]
        if missing:
            raise ValueError(f"missing required input fields: {', '.join(missing)}")
        return dict(value)
    model = spec.input_schema if _is_model_class(spec.input_schema) else input_model(spec.fn)
    try:
        parsed = model.model_validate(dict(value))
    except pydantic.ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(input)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"invalid tool input: {details}") from None
    return {name: getattr(parsed, name) for name in type(parsed).model_fields}


@dataclass(frozen=True)
class ToolOutcome:
    """What happened to one tool call: an output, an error, or a denial."""

    call: Mapping[str, Any]
    output: Any = None
    error: str | None = None
    denied: str | None = None

    def as_result(self) -> dict[str, Any]:
        """An AI SDK ``tool-result`` content part."""
        if self.denied is not None:
            output: dict[str, Any] = {"type": "execution-denied", "reason": self.denied}
        elif self.error is not None:
            output = {"type": "error-text", "value": self.error}
        else:
            output = tool_output(self.output)
        return {
            "type": "tool-result",
            "toolCallId": self.call["toolCallId"],
            "toolName": self.call["toolName"],
            "output": output,
        }

    def chunk(self) -> dict[str, Any]:
        """The UI chunk reporting this outcome."""
        call_id = self.call["toolCallId"]
        if self.denied is not None:
            return {"type": "tool-output-denied", "toolCallId": call_id, "reason": self.denied}
        if self.error is not None:
            return {"type": "tool-output-error", "toolCallId": call_id, "errorText": self.error}
        output = tool_output(self.output)
        if output["type"] != "content":
            output = self.output  # the tool's own value; multimodal ones in their JSON form
        return {"type": "tool-output-available", "toolCallId": call_id, "output": output}


def error_text(exc: BaseException) -> str:
    """An exception as the text the model sees."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def run_tool(spec: Tool, call: Mapping[str, Any], args: dict[str, Any]) -> ToolOutcome:
    """Call the tool; its errors (``FatalError`` included) become an outcome, not a raise."""
    try:
        result = spec.fn(**args)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # noqa: BLE001 - a tool's error is reported to the model
        return ToolOutcome(call, error=error_text(exc))
    return ToolOutcome(call, output=result)
