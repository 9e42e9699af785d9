"""``DurableAgent``: the model/tool loop, run as workflow code.

This module runs inside the workflow (deterministic, no I/O): it decides, and the built-in
steps in ``_model_step`` act. Per model step it makes exactly one durable call,
``ai.model_call``, which streams the step to the writable and carries the chunks the workflow
has queued since the last write (``start``, tool outputs) in front of its own, so a step with
tools costs one model step plus one step per durable tool. ``ai.write`` is used only when
chunks must reach the client before the next model call (approval requests) or at the end of a
turn that did not end on a model call.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, StrictBool

from wdk._workflow_api import define_hook
from wdk.ai._messages import (
    assistant_message,
    response_tool_calls,
    to_model_messages,
    to_pydantic_ai,
    tool_message,
    ui_message,
)
from wdk.ai._output import OutputSpec
from wdk.ai._tools import Tool, ToolOutcome, as_tool, describe, run_tool, validate_input
from wdk.ai._ui_chunks import DEFAULT_UI_STREAM_VERSION, check_version
from wdk.ai._usage import add_usage, finish_reason, normalize_usage
from wdk.runtime._proxies import StepFunction

__all__ = ["AgentResult", "DurableAgent", "StepResult", "ToolApproval"]

MODEL_CALL = "step//wdk//ai.model_call"
WRITE = "step//wdk//ai.write"


class ToolApproval(BaseModel):
    """A decision on a tool approval request: the payload its hook (token ``approvalId``) takes.

    ``approved`` must be a JSON boolean; anything else (``"maybe"``, a missing field) is
    refused before it is stored, with ``HookPayloadError`` from ``wdk.api.resume_hook`` and a
    400 from ``POST /api/hooks/{approvalId}``. Other fields (an AI SDK approval response's
    ``id``) are ignored.
    """

    approved: StrictBool
    """True: run the tool. False: the model gets a denied tool result."""
    reason: str | None = None
    """Why it was denied (shown to the model)."""


#: The typed hook an approval waits on (module level: the server imports the schema by path).
tool_approval = define_hook(ToolApproval)


@dataclass(frozen=True)
class StepResult:
    """One model step of a turn (plain data; AI SDK naming where it has one)."""

    step_number: int
    content: list[dict[str, Any]]
    """The assistant message's content parts (text, reasoning, tool-call)."""
    text: str
    reasoning: str
    tool_calls: list[dict[str, Any]]
    tool_results: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, int]
    model_name: str | None = None


@dataclass(frozen=True)
class AgentResult:
    """What ``agent.stream(...)`` returns."""

    messages: list[dict[str, Any]]
    """The whole conversation as AI SDK model messages (input plus this turn)."""
    steps: list[StepResult]
    ui_messages: list[dict[str, Any]] = field(default_factory=list)
    """With ``collect_ui_messages=True``: the turn's answer as one AI SDK UI message."""
    output: Any = None
    """The parsed structured output (``output=Output.object(...)``), else the final text."""
    total_usage: dict[str, int] = field(default_factory=dict)
    """Token usage summed over the steps (AI SDK keys: inputTokens, outputTokens, ...)."""

    @property
    def text(self) -> str:
        """The final step's text."""
        return self.steps[-1].text if self.steps else ""


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _call_with(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``fn`` with the keyword arguments its signature accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return await _maybe_await(fn(**kwargs))
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return await _maybe_await(fn(**kwargs))


def _tool_choice(choice: Any) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "tool":
        return [str(choice["toolName"])]
    raise ValueError(
        f"tool_choice must be auto, none, required or {{'type': 'tool', ...}}: {choice!r}"
    )


class DurableAgent:
    """A tool-calling agent whose model calls and step tools are durable steps.

    Args:
        model: ``"provider:model"`` (pydantic-ai's names) or a step-wrapped factory, such as
            ``wdk.ai.providers.openai("gpt-4o")`` or any ``"use step"`` function returning a
            pydantic-ai model.
        instructions: Instructions sent with every request.
        system: A system prompt put before the conversation.
        tools: ``{name: tool(fn, ...) or fn}``.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or ``{"type": "tool",
            "toolName": name}``.
        temperature, max_output_tokens, top_p, stop_sequences, seed: model settings.
        provider_options: ``{"openai": {"reasoning_effort": "low"}}`` becomes the pydantic-ai
            setting ``openai_reasoning_effort``.
        ui_stream_version: The AI SDK major the client runs (5, 6 or 7; see docs/ai.md).
    """

    def __init__(
        self,
        model: Any,
        *,
        instructions: str | None = None,
        system: str | None = None,
        tools: Mapping[str, Tool | Callable[..., Any]] | None = None,
        tool_choice: Any = "auto",
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        top_p: float | None = None,
        stop_sequences: Sequence[str] | None = None,
        seed: int | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        ui_stream_version: int = DEFAULT_UI_STREAM_VERSION,
    ) -> None:
        self.model = model
        self.instructions = instructions
        self.system = system
        self.tools: dict[str, Tool] = {name: as_tool(t) for name, t in (tools or {}).items()}
        self.tool_choice = tool_choice
        self.ui_stream_version = check_version(ui_stream_version)
        settings: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_output_tokens,
            "top_p": top_p,
            "stop_sequences": list(stop_sequences) if stop_sequences else None,
            "seed": seed,
        }
        for provider, options in (provider_options or {}).items():
            for key, value in options.items():
                settings[f"{provider}_{key}"] = value
        self.settings = {k: v for k, v in settings.items() if v is not None}

    async def stream(
        self,
        *,
        messages: Sequence[Mapping[str, Any]],
        writable: Any,
        max_steps: int | None = None,
        active_tools: Sequence[str] | None = None,
        prepare_step: Callable[..., Any] | None = None,
        on_step_finish: Callable[..., Any] | None = None,
        on_finish: Callable[..., Any] | None = None,
        on_error: Callable[..., Any] | None = None,
        collect_ui_messages: bool = False,
        output: OutputSpec | None = None,
        send_start: bool = True,
        send_finish: bool = True,
        prevent_close: bool = False,
        ui_stream_version: int | None = None,
        instructions: str | None = None,
    ) -> AgentResult:
        """Run one turn: model steps and tool calls until an answer without tool calls.

        Streams AI SDK UI chunks to ``writable`` (see docs/ai.md for the order and the
        exactly-one-``finish`` rule) and returns an :class:`AgentResult`. ``max_steps``
        bounds the model calls (default: unbounded). ``prepare_step`` is called before each
        model step with any of ``step_number``, ``messages``, ``steps``, ``model`` it accepts
        and may return a dict with ``model``, ``messages``, ``active_tools``,
        ``tool_choice``, ``instructions`` or ``system`` for that step. Callbacks may be sync
        or async and run as workflow code. ``instructions`` replaces the agent's
        instructions for this call (the AI SDK v6 spelling; ``prepare_step`` still wins).
        """
        turn = _Turn(
            self,
            writable=writable,
            version=check_version(ui_stream_version or self.ui_stream_version),
            send_finish=send_finish,
            prevent_close=prevent_close,
            output=output,
            instructions=instructions,
        )
        try:
            history = to_model_messages(messages)
            if send_start:
                turn.pending.append({"type": "start", "messageId": turn.message_id})
            result = await turn.run(history, max_steps, active_tools, prepare_step, on_step_finish)
            if collect_ui_messages:
                result = AgentResult(
                    result.messages,
                    result.steps,
                    [ui_message(turn.message_id, result.steps)],
                    result.output,
                    result.total_usage,
                )
        except Exception as exc:
            await turn.fail(exc)
            if on_error is not None:
                await _call_with(on_error, error=exc)
            raise
        if on_finish is not None:
            await _call_with(on_finish, result=result, **_result_kwargs(result))
        return result


def _result_kwargs(result: AgentResult) -> dict[str, Any]:
    return {
        "messages": result.messages,
        "steps": result.steps,
        "total_usage": result.total_usage,
        "output": result.output,
        "text": result.text,
    }


class _Turn:
    """The state of one ``stream()`` call."""

    def __init__(
        self,
        agent: DurableAgent,
        *,
        writable: Any,
        version: int,
        send_finish: bool,
        prevent_close: bool,
        output: OutputSpec | None,
        instructions: str | None = None,
    ) -> None:
        from wdk._context import current

        self.ctx: Any = current("DurableAgent.stream()")
        self.agent = agent
        self.writable = writable
        self.version = version
        self.send_finish = send_finish
        self.prevent_close = prevent_close
        self.output = output
        self.instructions = instructions if instructions is not None else agent.instructions
        self.pending: list[dict[str, Any]] = []
        self.finished = False
        self.message_id = f"msg-{self.ctx.random.getrandbits(64):016x}"
        self._model_call = StepFunction(MODEL_CALL, name="ai.model_call")
        self._write = StepFunction(WRITE, name="ai.write")

    async def flush(self, *, finish: str | None = None) -> None:
        """Write queued chunks now (plus ``finish`` with that reason, and close)."""
        chunks, self.pending = self.pending, []
        close = False
        if finish is not None and not self.finished:
            self.finished = True
            if self.send_finish:
                chunks.append({"type": "finish", "finishReason": finish})
            close = not self.prevent_close
        if chunks or close:
            await self._write(self.writable, chunks, self.version, close)

    async def fail(self, exc: BaseException) -> None:
        if self.finished:
            return
        self.pending.append({"type": "error", "errorText": str(exc) or type(exc).__name__})
        await self.flush(finish="error")

    async def run(
        self,
        history: list[dict[str, Any]],
        max_steps: int | None,
        active_tools: Sequence[str] | None,
        prepare_step: Callable[..., Any] | None,
        on_step_finish: Callable[..., Any] | None,
    ) -> AgentResult:
        agent = self.agent
        steps: list[StepResult] = []
        step_number = 0
        while True:
            model, tool_names, choice = agent.model, active_tools, agent.tool_choice
            instructions, system = self.instructions, agent.system
            call_messages = history
            if prepare_step is not None:
                prepared = await _call_with(
                    prepare_step,
                    step_number=step_number,
                    messages=list(history),
                    steps=list(steps),
                    model=model,
                )
                prepared = dict(prepared or {})
                model = prepared.get("model", model)
                tool_names = prepared.get("active_tools", tool_names)
                choice = prepared.get("tool_choice", choice)
                instructions = prepared.get("instructions", instructions)
                system = prepared.get("system", system)
                if prepared.get("messages") is not None:
                    call_messages = to_model_messages(prepared["messages"])
            tools = {n: t for n, t in agent.tools.items() if tool_names is None or n in tool_names}
            last_allowed = max_steps is not None and step_number + 1 >= max_steps
            settings = dict(agent.settings)
            if tools and choice not in (None, "auto"):
                settings["tool_choice"] = _tool_choice(choice)
            request = {
                "model": model,
                "messages": to_pydantic_ai(call_messages, instructions=instructions, system=system),
                "settings": settings,
                "tools": [describe(n, t) for n, t in tools.items()],
                "output": self.output.request() if self.output is not None else None,
                "writable": self.writable,
                "version": self.version,
                "prelude": self.pending,
                "finish": {"send": self.send_finish, "close": not self.prevent_close},
            }
            self.pending = []
            reply = await self._model_call(request)
            response = reply["response"]
            calls = response_tool_calls(response)
            if not calls:
                self.finished = True  # the model step wrote the finish (and closed)
            history.append(assistant_message(response))
            outcomes = await self._run_tools(tools, calls, reply.get("step_inputs") or {})
            results = [o.as_result() for o in outcomes]
            if results:
                history.append(tool_message(results))
                self.pending.extend(o.chunk() for o in outcomes)
            step = _step_result(step_number, response, calls, results)
            steps.append(step)
            if on_step_finish is not None:
                await _call_with(on_step_finish, step=step)
            step_number += 1
            if not calls or last_allowed:
                break
        if not self.finished or self.pending:
            await self.flush(finish=steps[-1].finish_reason)
        output = self.output.parse(steps[-1].text) if self.output is not None else steps[-1].text
        return AgentResult(
            messages=history,
            steps=steps,
            output=output,
            total_usage=add_usage(s.usage for s in steps),
        )

    async def _run_tools(
        self,
        tools: Mapping[str, Tool],
        calls: list[dict[str, Any]],
        step_inputs: Mapping[str, Any],
    ) -> list[ToolOutcome]:
        from wdk.runtime._concurrency import gather

        jobs = [self._run_tool(tools, call, step_inputs.get(call["toolCallId"])) for call in calls]
        return list(await gather(*jobs)) if jobs else []

    async def _run_tool(
        self, tools: Mapping[str, Tool], call: dict[str, Any], checked: Mapping[str, Any] | None
    ) -> ToolOutcome:
        spec = tools.get(call["toolName"])
        if spec is None:
            names = ", ".join(sorted(tools)) or "none"
            return ToolOutcome(call, error=f"unknown tool {call['toolName']!r} (tools: {names})")
        try:
            if checked is not None:
                if "error" in checked:
                    raise ValueError(checked["error"])
                args = dict(checked["args"])
            else:
                args = validate_input(spec, call["input"])
        except ValueError as exc:
            return ToolOutcome(call, error=str(exc))
        if await self._needs_approval(spec, args):
            denied = await self._approval(call)
            if denied is not None:
                return ToolOutcome(call, denied=denied)
        return await run_tool(spec, call, args)

    @staticmethod
    async def _needs_approval(spec: Tool, args: dict[str, Any]) -> bool:
        rule = spec.needs_approval
        if callable(rule):
            return bool(await _maybe_await(rule(args)))
        return bool(rule)

    async def _approval(self, call: Mapping[str, Any]) -> str | None:
        """Ask for approval; None when approved, else the denial reason the model sees."""
        token = f"{self.ctx.run_id}:{call['toolCallId']}"
        hook = tool_approval.create(token=token, metadata={"kind": "tool-approval", **call})
        self.pending.append(
            {
                "type": "tool-approval-request",
                "approvalId": token,
                "toolCallId": call["toolCallId"],
                "toolName": call["toolName"],
                "input": call["input"],
            }
        )
        await self.flush()
        decision: ToolApproval = await hook
        hook.dispose()
        if decision.approved:
            return None
        return decision.reason or "The user denied this tool call."


def _step_result(
    number: int,
    response: Mapping[str, Any],
    calls: list[dict[str, Any]],
    results: list[dict[str, Any]],
) -> StepResult:
    message = assistant_message(response)
    content = message["content"]
    return StepResult(
        step_number=number,
        content=content,
        text="".join(p["text"] for p in content if p["type"] == "text"),
        reasoning="".join(p["text"] for p in content if p["type"] == "reasoning"),
        tool_calls=calls,
        tool_results=results,
        finish_reason=finish_reason(response.get("finish_reason"), has_tool_calls=bool(calls)),
        usage=normalize_usage(response.get("usage")),
        model_name=response.get("model_name"),
    )


_Callback = Callable[..., Awaitable[Any] | Any]
