"""The agent's built-in steps: one model call, and writing chunks.

``model_call`` (``step//wdk//ai.model_call``) is one durable step per model request: it
builds the pydantic-ai model from its spec (a ``"provider:model"`` string or a step-wrapped
factory, called here so clients and keys never enter the event log), runs
``pydantic_ai.direct.model_request_stream`` and writes UI chunks to the writable as deltas
arrive. A model that cannot stream (a ``FunctionModel`` without ``stream_function``) gets one
``model_request`` instead, and its whole response is written the same way. It returns the
response as ``ModelMessagesTypeAdapter`` JSON.

Retries and the stream. The AI SDK's UI message stream is append-only: no chunk retracts text
a client has rendered. So part ids are deterministic per model call (``<step cid>-<part
index>``, the same on every attempt), and an attempt after the first reads back what earlier
attempts of the same call already wrote (:func:`_delivered`). Its own output is then matched
against it: text the client already has is not written again, text beyond it is appended to
the same part, and only if the new attempt *diverges* from delivered text is the stale part
closed and the new text written to a fresh part (``...-r<attempt>``). Failures before the
first token (HTTP 5xx/429, refused connections: the common retry causes) therefore never show
twice, and neither does a mid-stream failure whose retry reproduces the delivered prefix.
Buffering each attempt instead would have made the stream wait for whole model responses.

``write_chunks`` (``step//wdk//ai.write``) writes chunks the workflow produced (tool outputs,
approval requests, the final ``finish``) when no model call is about to carry them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wdk.ai._ui_chunks import for_version
from wdk.runtime._streams import WritableStream

__all__ = ["model_call", "write_chunks"]


async def write_chunks(
    writable: WritableStream,
    chunks: Sequence[Mapping[str, Any]],
    version: int,
    close: bool = False,
) -> None:
    """Write ``chunks`` (filtered for the client ``version``), then close if asked."""
    for chunk in chunks:
        out = for_version(chunk, version)
        if out is not None:
            await writable.write(out)
    if close:
        await writable.close()


# -- reading back earlier attempts ---------------------------------------------------------


@dataclass
class _Prior:
    wire: str
    text: str = ""
    ended: bool = False


def _base_id(wire_id: str) -> str:
    return "-".join(wire_id.split("-")[:2])


async def _delivered(writable: WritableStream, cid: str) -> tuple[bool, dict[str, _Prior]]:
    """What earlier attempts of call ``cid`` wrote: (anything at all, text parts by base id)."""
    from wdk import serde
    from wdk.worlds._default import get_world

    world = get_world()
    prefix = f"{cid}-"
    parts: dict[str, _Prior] = {}
    seen = False
    index = 0
    while True:
        batch = await world.read_chunks(writable.run_id, writable.namespace, index, 500)
        if not batch:
            return seen, parts
        for raw in batch:
            index = raw.index + 1
            chunk = serde.decode(raw.data)
            if not isinstance(chunk, dict):
                continue
            wire = str(chunk.get("id") or chunk.get("toolCallId") or "")
            if not wire.startswith(prefix):
                continue
            seen = True
            kind = str(chunk.get("type", ""))
            if not kind.startswith(("text-", "reasoning-")):
                continue
            base = _base_id(wire)
            if kind.endswith("-start"):
                parts[base] = _Prior(wire)
            elif base in parts and parts[base].wire == wire:
                if kind.endswith("-delta"):
                    parts[base].text += str(chunk.get("delta", ""))
                else:
                    parts[base].ended = True


# -- writing one attempt -------------------------------------------------------------------


@dataclass
class _Part:
    kind: str  # "text" | "reasoning"
    base: str
    prior: _Prior | None
    wire: str = ""
    text: str = ""
    sent: int = 0
    diverged: bool = False
    open: bool = False


@dataclass
class _Writer:
    writable: WritableStream
    version: int
    attempt: int
    prior: dict[str, _Prior]
    head: list[Mapping[str, Any]] = field(default_factory=list)
    """Written just before the first chunk of the call: an attempt that fails before its
    first token writes nothing at all."""
    parts: dict[str, _Part] = field(default_factory=dict)

    async def emit(self, chunk: Mapping[str, Any]) -> None:
        head, self.head = self.head, []
        for item in (*head, chunk):
            out = for_version(item, self.version)
            if out is not None:
                await self.writable.write(out)

    async def start(self, kind: str, base: str) -> None:
        part = _Part(kind, base, self.prior.get(base))
        self.parts[base] = part
        if part.prior is None:
            part.wire, part.open = base, True
            await self.emit({"type": f"{kind}-start", "id": base})
        else:
            part.wire, part.open = part.prior.wire, not part.prior.ended

    async def _diverge(self, part: _Part) -> None:
        if part.open:
            await self.emit({"type": f"{part.kind}-end", "id": part.wire})
        part.diverged, part.wire, part.open = True, f"{part.base}-r{self.attempt}", True
        await self.emit({"type": f"{part.kind}-start", "id": part.wire})
        if part.text:
            await self.emit({"type": f"{part.kind}-delta", "id": part.wire, "delta": part.text})
        part.sent = len(part.text)

    async def delta(self, base: str, delta: str) -> None:
        part = self.parts[base]
        part.text += delta
        if not delta:
            return
        if part.prior is None or part.diverged:
            await self.emit({"type": f"{part.kind}-delta", "id": part.wire, "delta": delta})
            part.sent = len(part.text)
            return
        known = part.prior.text
        if known.startswith(part.text):
            return  # the client already shows this much
        if part.text.startswith(known) and part.open:
            await self.emit(
                {
                    "type": f"{part.kind}-delta",
                    "id": part.wire,
                    "delta": part.text[part.sent or len(known) :],
                }
            )
            part.sent = len(part.text)
            return
        await self._diverge(part)

    async def end(self, base: str) -> None:
        part = self.parts[base]
        if part.prior is not None and not part.diverged and part.text != part.prior.text:
            if len(part.text) < len(part.prior.text):
                await self._diverge(part)  # shorter than what the client already shows
        if part.open:
            await self.emit({"type": f"{part.kind}-end", "id": part.wire})
            part.open = False

    async def close_all(self) -> None:
        for base in list(self.parts):
            await self.end(base)


# -- the model call ------------------------------------------------------------------------


async def _build_model(spec: Any) -> Any:
    if isinstance(spec, str):
        from pydantic_ai.models import infer_model

        return infer_model(spec)
    if callable(spec):
        model = spec()
        if inspect.isawaitable(model):
            model = await model
        return model
    return spec


def _tool_definitions(tools: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    """pydantic-ai ToolDefinitions, and input models for step tools validated here."""
    from pydantic_ai.tools import ToolDefinition

    from wdk.ai._tools import input_model
    from wdk.runtime._loader import default_project

    defs, models = [], {}
    for spec in tools:
        schema = spec.get("parameters")
        step = spec.get("step")
        if schema is None and step is not None:
            fn = default_project().step_callable(step.step_id, step.closure_values())
            models[spec["name"]] = input_model(fn)
            schema = models[spec["name"]].model_json_schema()
        defs.append(
            ToolDefinition(
                name=spec["name"],
                description=spec.get("description"),
                parameters_json_schema=schema or {"type": "object", "properties": {}},
            )
        )
    return defs, models


def _validate_step_inputs(response: Any, models: Mapping[str, Any]) -> dict[str, Any]:
    """Tool inputs of step tools validated against the real function (call id -> result)."""
    import pydantic
    from pydantic_ai.messages import ToolCallPart

    out: dict[str, Any] = {}
    for part in response.parts:
        if not isinstance(part, ToolCallPart) or part.tool_name not in models:
            continue
        try:
            args = part.args_as_dict(raise_if_invalid=True)
            parsed = models[part.tool_name].model_validate(args)
        except (ValueError, pydantic.ValidationError) as exc:
            errors = exc.errors() if isinstance(exc, pydantic.ValidationError) else None
            text = (
                "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(input)'}: {e['msg']}" for e in errors
                )
                if errors
                else str(exc)
            )
            out[part.tool_call_id] = {"error": f"invalid tool input: {text}"}
            continue
        out[part.tool_call_id] = {
            "args": parsed.model_dump(mode="json", include=set(type(parsed).model_fields))
        }
    return out


def _parameters(request: Mapping[str, Any], defs: list[Any]) -> Any:
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.output import OutputObjectDefinition

    output = request.get("output")
    if not output:
        return ModelRequestParameters(function_tools=defs)
    return ModelRequestParameters(
        function_tools=defs,
        output_mode="prompted",
        output_object=OutputObjectDefinition(
            json_schema=output["schema"],
            name=output.get("name"),
            description=output.get("description"),
        ),
        allow_text_output=True,
    )


async def _tool_chunks(writer: _Writer, part: Any) -> None:
    call_id, name = part.tool_call_id, part.tool_name
    await writer.emit({"type": "tool-input-start", "toolCallId": call_id, "toolName": name})
    await writer.emit(
        {
            "type": "tool-input-delta",
            "toolCallId": call_id,
            "inputTextDelta": part.args_as_json_str(),
        }
    )
    try:
        args: Any = part.args_as_dict(raise_if_invalid=True)
    except ValueError:
        args = part.args if isinstance(part.args, str) else json.dumps(part.args)
    await writer.emit(
        {"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": args}
    )


async def _close(model: Any) -> None:
    """Close the HTTP client of a model the step built (a factory's model is the step's own)."""
    close = getattr(getattr(model, "client", None), "close", None)
    if close is not None and inspect.iscoroutinefunction(close):
        await close()


def _step_tool_models(request: Mapping[str, Any]) -> dict[str, Any]:
    return _tool_definitions(request.get("tools") or ())[1]


async def _request(model: Any, request: Mapping[str, Any], writer: _Writer, cid: str) -> Any:
    """Run the streamed request, writing chunks as events arrive; returns the response."""
    from pydantic_ai import ModelMessagesTypeAdapter
    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import (
        PartDeltaEvent,
        PartEndEvent,
        PartStartEvent,
        TextPart,
        TextPartDelta,
        ThinkingPart,
        ThinkingPartDelta,
        ToolCallPart,
    )

    messages = ModelMessagesTypeAdapter.validate_python(request["messages"])
    defs, _ = _tool_definitions(request.get("tools") or ())
    ids: dict[int, str] = {}
    starts: dict[int, int] = {}
    tools_done: set[str] = set()
    settings = request.get("settings") or None
    parameters = _parameters(request, defs)

    if not _can_stream(model):
        return await _unstreamed(model, messages, settings, parameters, writer, cid)
    async with model_request_stream(
        model, messages, model_settings=settings, model_request_parameters=parameters
    ) as stream:
        async for event in stream:
            if isinstance(event, PartStartEvent):
                # Deterministic ids: the same part of a retried call gets the same id.
                n = starts[event.index] = starts.get(event.index, -1) + 1
                base = ids[event.index] = f"{cid}-{event.index}" + (f"x{n}" if n else "")
                if isinstance(event.part, TextPart | ThinkingPart):
                    kind = "text" if isinstance(event.part, TextPart) else "reasoning"
                    await writer.start(kind, base)
                    await writer.delta(base, event.part.content)
            elif isinstance(event, PartDeltaEvent):
                base = ids[event.index]
                delta = event.delta
                if isinstance(delta, TextPartDelta | ThinkingPartDelta) and base in writer.parts:
                    await writer.delta(base, delta.content_delta or "")
            elif isinstance(event, PartEndEvent):
                base = ids[event.index]
                if base in writer.parts:
                    await writer.end(base)
                elif isinstance(event.part, ToolCallPart):
                    tools_done.add(event.part.tool_call_id)
                    await _tool_chunks(writer, event.part)
        response = stream.get()
    await writer.close_all()
    for part in response.parts:
        if isinstance(part, ToolCallPart) and part.tool_call_id not in tools_done:
            await _tool_chunks(writer, part)
    await writer.emit({"type": "finish-step"})
    return response


def _can_stream(model: Any) -> bool:
    """Whether ``model`` serves streamed requests.

    pydantic-ai's ``FunctionModel`` without a ``stream_function`` cannot (it fails with an
    assertion); a model class that does not implement ``request_stream`` at all is found by
    comparing with the base class's method, which only raises ``NotImplementedError``.
    """
    from pydantic_ai.models import Model
    from pydantic_ai.models.function import FunctionModel

    if isinstance(model, FunctionModel):
        return model.stream_function is not None
    return getattr(type(model), "request_stream", None) is not Model.request_stream


async def _unstreamed(
    model: Any, messages: Any, settings: Any, parameters: Any, writer: _Writer, cid: str
) -> Any:
    """One non-streamed request; the whole response is written as if it had streamed.

    The same chunks a streamed response gives (``text-start/delta/end`` per text or
    reasoning part, tool input chunks per call, ``finish-step``), with the same deterministic
    part ids, so a client cannot tell the difference except for the pace.
    """
    from pydantic_ai.direct import model_request
    from pydantic_ai.messages import TextPart, ThinkingPart, ToolCallPart

    response = await model_request(
        model, messages, model_settings=settings, model_request_parameters=parameters
    )
    for index, part in enumerate(response.parts):
        if isinstance(part, TextPart | ThinkingPart):
            base = f"{cid}-{index}"
            await writer.start("text" if isinstance(part, TextPart) else "reasoning", base)
            await writer.delta(base, part.content)
            await writer.end(base)
        elif isinstance(part, ToolCallPart):
            await _tool_chunks(writer, part)
    await writer.emit({"type": "finish-step"})
    return response


async def model_call(request: dict[str, Any]) -> dict[str, Any]:
    """One model request as one durable step (see the module docstring)."""
    from pydantic_ai import ModelMessagesTypeAdapter
    from pydantic_ai.messages import ToolCallPart

    from wdk.ai._usage import finish_reason
    from wdk.runtime._metadata import get_step_metadata

    meta = get_step_metadata()
    writable: WritableStream = request["writable"]
    version = int(request["version"])
    seen, prior = (False, {}) if meta.attempt == 1 else await _delivered(writable, meta.step_id)
    head = [] if seen else [*(request.get("prelude") or ()), {"type": "start-step"}]
    writer = _Writer(writable, version, meta.attempt, prior, head)

    model = await _build_model(request["model"])
    try:
        response = await _request(model, request, writer, meta.step_id)
    finally:
        if not isinstance(request["model"], str):
            await _close(model)
    has_calls = any(isinstance(p, ToolCallPart) for p in response.parts)
    finish = request.get("finish") or {}
    if not has_calls and finish.get("send"):
        reason = finish_reason(response.finish_reason, has_tool_calls=False)
        await writer.emit({"type": "finish", "finishReason": reason})
    if not has_calls and finish.get("close"):
        await writable.close()
    return {
        "response": ModelMessagesTypeAdapter.dump_python([response], mode="json")[0],
        "step_inputs": _validate_step_inputs(response, _step_tool_models(request)),
    }
