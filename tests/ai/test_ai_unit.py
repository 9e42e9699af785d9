"""Pure parts of wdk.ai: exports, the UI chunk version table, message conversion, usage."""

from __future__ import annotations

import pytest

import wdk.ai
from wdk.ai._messages import to_model_messages, to_pydantic_ai
from wdk.ai._ui_chunks import UI_STREAM_FIELDS, check_version, for_version
from wdk.ai._usage import add_usage, finish_reason, normalize_usage


def test_exports_are_pinned():
    assert wdk.ai.__all__ == [
        "AgentResult",
        "DEFAULT_UI_STREAM_VERSION",
        "DurableAgent",
        "Output",
        "OutputSpec",
        "StepResult",
        "Tool",
        "ToolApproval",  # the payload of a tool approval's hook (issue 17, item 6)
        "UI_STREAM_FIELDS",
        "WdkDurability",  # pydantic-ai durable_exec capability (wdk.ai._durability), lazy
        "chat_app",  # the chat routes (wdk.ai._chat), built alongside the agent core
        "chat_hook_token",
        "tool",
    ]
    import wdk.ai.providers as providers

    assert providers.__all__ == [
        "anthropic",
        "build_model",
        "google",
        "openai",
        "openai_compatible",
    ]


def test_versions():
    assert sorted(UI_STREAM_FIELDS) == [5, 6, 7]
    assert check_version(6) == 6
    with pytest.raises(ValueError, match="ui_stream_version"):
        check_version(4)


def test_unknown_fields_and_nones_are_dropped():
    chunk = {"type": "finish", "finishReason": "stop", "extra": 1, "messageMetadata": None}
    assert for_version(chunk, 5) == {"type": "finish"}
    assert for_version(chunk, 6) == {"type": "finish", "finishReason": "stop"}
    assert for_version(chunk, 7) == {"type": "finish", "finishReason": "stop"}


def test_approval_chunks_downgrade_for_v5():
    request = {
        "type": "tool-approval-request",
        "approvalId": "r:c",
        "toolCallId": "c",
        "toolName": "t",
        "input": {"a": 1},
    }
    assert for_version(request, 6) == {
        "type": "tool-approval-request",
        "approvalId": "r:c",
        "toolCallId": "c",
    }
    assert for_version(request, 5) == {
        "type": "data-tool-approval-request",
        "id": "r:c",
        "data": {"approvalId": "r:c", "toolCallId": "c", "toolName": "t", "input": {"a": 1}},
    }
    denied = {"type": "tool-output-denied", "toolCallId": "c", "reason": "no"}
    assert for_version(denied, 7) == {"type": "tool-output-denied", "toolCallId": "c"}
    assert for_version(denied, 5) == {
        "type": "tool-output-error",
        "toolCallId": "c",
        "errorText": "no",
    }
    assert for_version({"type": "made-up"}, 7) is None


def test_ui_assistant_message_splits_into_steps():
    ui = [
        {"id": "u", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
        {
            "id": "a",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {
                    "type": "tool-search",
                    "toolCallId": "c1",
                    "state": "output-available",
                    "input": {"q": "x"},
                    "output": [1],
                },
                {"type": "step-start"},
                {"type": "text", "text": "done"},
            ],
        },
    ]
    assert to_model_messages(ui) == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool-call", "toolCallId": "c1", "toolName": "search", "input": {"q": "x"}}
            ],
        },
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool-result",
                    "toolCallId": "c1",
                    "toolName": "search",
                    "output": {"type": "json", "value": [1]},
                }
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
    ]


def test_pydantic_ai_json_round_trips_through_the_adapter():
    from pydantic_ai import ModelMessagesTypeAdapter

    messages = to_model_messages(
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool-call", "toolCallId": "c", "toolName": "t", "input": {}}],
            },
            {
                "role": "tool",
                "content": [
                    {
                        "type": "tool-result",
                        "toolCallId": "c",
                        "toolName": "t",
                        "output": {"type": "error-text", "value": "bad"},
                    }
                ],
            },
        ]
    )
    data = to_pydantic_ai(messages, instructions="be brief", system="sys")
    parsed = ModelMessagesTypeAdapter.validate_python(data)
    assert [m.kind for m in parsed] == ["request", "response", "request"]
    assert parsed[-1].instructions == "be brief"
    assert parsed[-1].parts[0].outcome == "failed"


def test_usage_and_finish_reasons():
    u = normalize_usage({"input_tokens": 3, "output_tokens": 4, "cache_read_tokens": 1})
    assert u == {
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 7,
        "reasoningTokens": 0,
        "cachedInputTokens": 1,
    }
    assert add_usage([u, u])["totalTokens"] == 14
    assert finish_reason("content_filter", has_tool_calls=False) == "content-filter"
    assert finish_reason("stop", has_tool_calls=True) == "tool-calls"
    assert finish_reason("weird", has_tool_calls=False) == "other"


def test_typed_content_tool_results_become_pydantic_ai_multimodal_parts():
    """Issue 17, item 5: AI SDK v6 ``content`` outputs (and v5 ``media``) -> BinaryContent."""
    from pydantic_ai import ModelMessagesTypeAdapter
    from pydantic_ai.messages import BinaryContent, ImageUrl

    from wdk.ai._messages import tool_output

    output = tool_output(["a chart", BinaryContent(data=b"\x89PNG", media_type="image/png")])
    assert output == {
        "type": "content",
        "value": [
            {"type": "text", "text": "a chart"},
            {"type": "image-data", "data": "iVBORw==", "mediaType": "image/png"},
        ],
    }
    extra = [
        {"type": "media", "data": "JVBERg==", "mediaType": "application/pdf"},
        {"type": "image-url", "url": "https://example.com/a.png"},
    ]
    output["value"].extend(extra)
    call = {"type": "tool-call", "toolCallId": "c1", "toolName": "t", "input": {}}
    result = {"type": "tool-result", "toolCallId": "c1", "toolName": "t", "output": output}
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [call]},
        {"role": "tool", "content": [result]},
    ]
    parsed = ModelMessagesTypeAdapter.validate_python(to_pydantic_ai(history))
    content = parsed[-1].parts[0].content
    assert content[0] == "a chart"
    assert isinstance(content[1], BinaryContent) and content[1].data == b"\x89PNG"
    assert isinstance(content[2], BinaryContent) and content[2].media_type == "application/pdf"
    assert isinstance(content[3], ImageUrl)
