"""Request bodies are validated by the pydantic models: 400 naming every rejected field."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_harness import start, wf

from wdk.server._http import ApiError
from wdk.server._models import (
    MAX_FROM_STEP,
    EventPage,
    ForkRequest,
    StartRunRequest,
    StepList,
    parse_body,
)


def _rejected(model: Any, data: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_body(model, data)
    assert info.value.status == 400
    return info.value


_ALLOWED = "args, run_id, queue, key, priority, dedupe_key, debounce, delay"


def test_an_absent_body_is_the_defaults() -> None:
    assert parse_body(StartRunRequest, None) == StartRunRequest(args=[], run_id=None)
    assert parse_body(ForkRequest, None).from_step is None
    assert parse_body(ForkRequest, {"from_step": MAX_FROM_STEP}).from_step == MAX_FROM_STEP


def test_every_rejected_field_is_named_with_what_to_do() -> None:
    err = _rejected(
        StartRunRequest,
        {"args": 1, "run_id": "no spaces", "queues": "x", "priority": True, "delay": [1]},
    )
    assert err.extra is not None
    assert [(e["loc"][:1], e["type"]) for e in err.extra["errors"]] == [
        (["args"], "list_type"),
        (["run_id"], "string_pattern_mismatch"),
        (["priority"], "int_type"),  # strict: a JSON boolean is not an integer
        (["delay"], "string_type"),
        (["delay"], "float_type"),
        (["queues"], "extra_forbidden"),
    ]
    assert err.message.startswith("request body rejected: args: Input should be a valid list")
    assert f"queues: unknown field; allowed: {_ALLOWED}" in err.message


def test_the_flow_control_fields_take_json_types_as_they_are() -> None:
    body = parse_body(
        StartRunRequest,
        {"queue": "q", "key": "k", "priority": -3, "dedupe_key": "d", "debounce": "5s", "delay": 2},
    )
    assert (body.queue, body.key, body.priority, body.dedupe_key) == ("q", "k", -3, "d")
    assert (body.debounce, body.delay) == ("5s", 2)
    err = _rejected(StartRunRequest, {"queue": 1, "priority": 2**31})
    assert err.extra is not None
    assert [(e["loc"], e["type"]) for e in err.extra["errors"]] == [
        (["queue"], "string_type"),
        (["priority"], "less_than_equal"),
    ]


def test_a_body_that_is_not_an_object_says_so() -> None:
    err = _rejected(ForkRequest, [1])
    assert (
        err.message
        == "request body rejected: (body): must be a JSON object with the fields from_step"
    )
    assert err.extra == {
        "errors": [
            {
                "loc": [],
                "msg": "must be a JSON object with the fields from_step",
                "type": "model_type",
            }
        ]
    }


@pytest.mark.parametrize("value", ["2", True, 1.5, -1, MAX_FROM_STEP + 1])
def test_json_types_are_taken_as_they_are(value: Any) -> None:
    err = _rejected(ForkRequest, {"from_step": value})
    assert err.extra is not None and err.extra["errors"][0]["loc"] == ["from_step"]


def test_the_ui_views_parse_a_real_shape() -> None:
    step = {
        "step_id": "step//a.py//charge",
        "name": "charge",
        "correlation_id": "c1",
        "status": "completed",
        "attempts": [
            {
                "attempt": 1,
                "started_at": 1.0,
                "ended_at": 2.0,
                "error": {"message": "flaky", "type": "builtins.OSError", "stack": "..."},
            },
            {"attempt": 2, "started_at": 3.0, "ended_at": 4.0},
        ],
        "started_at": 1.0,
        "completed_at": 4.0,
        "duration_ms": 3000.0,
        "input": [42],
        "output": {"$bytes": "AA=="},
        "error": None,
    }
    assert StepList.model_validate({"steps": [step]}).steps[0].attempts[0].error is not None
    event = {"seq": 1, "type": "run_created", "at": 1.0, "correlation_id": None, "data": {}}
    EventPage.model_validate({"events": [event], "cursor": None})
    with pytest.raises(ValueError):
        StepList.model_validate({"steps": [{**step, "status": "sleeping"}]})


def test_start_over_http_names_the_fields(client: httpx.Client) -> None:
    url = f"/api/workflows/{quote(wf('feed'), safe='')}/runs"
    resp = client.post(url, json={"args": ["t"], "run_id": "bad id", "prio": 1})
    assert resp.status_code == 400
    body = resp.json()
    assert [e["loc"] for e in body["errors"]] == [["run_id"], ["prio"]]
    assert f"prio: unknown field; allowed: {_ALLOWED}" in body["error"]


def test_fork_over_http_names_the_field(client: httpx.Client) -> None:
    run_id = start(client, "streams_demo")
    resp = client.post(f"/api/runs/{run_id}/fork", json={"from_step": "1"})
    assert resp.status_code == 400
    assert resp.json()["errors"] == [
        {"loc": ["from_step"], "msg": "Input should be a valid integer", "type": "int_type"}
    ]
