"""Stored values JSON cannot carry never break a response or a stream (real `wdk serve`).

A 4,301-digit int, NaN, an infinity, a string with a lone surrogate: each is served in its
``{"$serde": ...}`` form, per value, so the other runs of a listing keep their plain JSON.
"""

from __future__ import annotations

import base64
import math
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_harness import first_chunk, read_chunks, wait_end

from wdk import serde

HOSTILE = {
    "bigint": 10**4301,
    "nan": float("nan"),
    "inf": float("-inf"),
    "surrogate": "caf\udce9",
    "nested": {"fine": [1, "two"], "bad": [10**4301]},
}


def hwf(name: str) -> str:
    return f"workflow//hostile_flows.py//{name}"


def start(client: httpx.Client, name: str, *args: Any) -> str:
    resp = client.post(f"/api/workflows/{quote(hwf(name), safe='')}/runs", json={"args": args})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["run_id"])


def from_serde(marker: Any) -> Any:
    assert isinstance(marker, dict) and set(marker) == {"$serde"}, marker
    return serde.decode(base64.b64decode(marker["$serde"]))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b)


def test_outputs_without_json_form_are_served_as_serde(client: httpx.Client) -> None:
    runs = {kind: start(client, "output_of", kind) for kind in [*HOSTILE, "plain"]}
    for kind, run_id in runs.items():
        run = wait_end(client, run_id)
        assert run["status"] == "completed", run
        if kind == "plain":
            assert run["output"] == "plain"
        else:
            assert same(from_serde(run["output"]), HOSTILE[kind]), kind

    listing = client.get("/api/runs", params={"workflow": hwf("output_of"), "limit": 100})
    assert listing.status_code == 200, listing.text
    outputs = {r["run_id"]: r["output"] for r in listing.json()["runs"]}
    assert outputs[runs["plain"]] == "plain"
    for kind in HOSTILE:
        assert same(from_serde(outputs[runs[kind]]), HOSTILE[kind]), kind


def test_an_int_at_the_digit_limit_is_plain_json(client: httpx.Client) -> None:
    at_limit = 10**4299  # 4,300 digits: Python still converts it
    run = wait_end(client, start(client, "output_of", at_limit))
    assert run["output"] == at_limit


def test_stream_chunks_without_json_form_do_not_cut_the_stream(client: httpx.Client) -> None:
    run_id = start(client, "stream_of", ["plain", "bigint", "nan", "surrogate", "inf", "plain"])
    chunks = read_chunks(client, run_id)
    assert [i for i, _ in chunks] == [0, 1, 2, 3, 4, 5]
    assert chunks[0][1] == "plain" and chunks[5][1] == "plain"
    for (_, data), kind in zip(chunks[1:5], ["bigint", "nan", "surrogate", "inf"], strict=True):
        assert same(from_serde(data), HOSTILE[kind]), kind


@pytest.mark.parametrize("kind", ["bigint", "nan", "surrogate"])
def test_hook_metadata_without_json_form(client: httpx.Client, kind: str) -> None:
    token = f"tok-hostile-{kind}"
    run_id = start(client, "hook_with", kind, token)
    first_chunk(client, run_id, "control")
    expected = {"kind": kind, "value": HOSTILE[kind]}

    listed = client.get(f"/api/runs/{run_id}/hooks")
    assert listed.status_code == 200, listed.text
    (hook,) = listed.json()["hooks"]
    back = from_serde(hook["metadata"])
    assert back["kind"] == kind and same(back["value"], expected["value"])

    single = client.get(f"/api/hooks/{token}")
    assert single.status_code == 200, single.text
    assert single.json()["metadata"] == hook["metadata"]

    assert client.post(f"/api/hooks/{token}", json="done").status_code == 200
    assert wait_end(client, run_id)["output"] == "done"


def test_failed_run_with_a_lone_surrogate_in_its_message(client: httpx.Client) -> None:
    run_id = start(client, "failing", "surrogate")
    run = wait_end(client, run_id)
    assert run["status"] == "failed"
    assert run["error"]["message"] == "cannot open /data/caf\\udce9.csv"
    listing = client.get("/api/runs", params={"workflow": hwf("failing"), "limit": 100})
    assert listing.status_code == 200, listing.text
    assert run_id in [r["run_id"] for r in listing.json()["runs"]]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("status", "is not an HTTP status (100-599)"),
        ("headers", "header 'x-bad' has a value with line breaks"),
    ],
)
def test_webhook_answer_that_http_cannot_carry_is_a_502(
    client: httpx.Client, kind: str, reason: str
) -> None:
    run_id = start(client, "webhook_answering", kind)
    url = first_chunk(client, run_id, "control")
    resp = client.post(url, content=b"hello")
    assert resp.status_code == 502
    assert "the workflow's response to this webhook request cannot be sent" in resp.text
    assert reason in resp.text
    assert wait_end(client, run_id)["output"] == kind
