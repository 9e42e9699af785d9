"""Hostile requests against a real `wdk serve`: over-long JSON ints, Last-Event-ID, 405s."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_harness import first_chunk, read_chunks, sse, wait_end
from starlette.routing import Route

from wdk.server import create_app

LONG = b"1" * 4301  # one digit past Python's int conversion limit
AT_LIMIT = b"1" * 4300


def hwf(name: str) -> str:
    return f"workflow//hostile_flows.py//{name}"


def start_url(name: str) -> str:
    return f"/api/workflows/{quote(hwf(name), safe='')}/runs"


def start(client: httpx.Client, name: str, *args: Any) -> str:
    resp = client.post(start_url(name), json={"args": args})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["run_id"])


def assert_long_int_error(resp: httpx.Response, where: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.json() == {
        "error": f"request body has an integer with more than 4300 digits at {where}; Python "
        "refuses to convert numbers that long. Send it as a JSON string instead"
    }


# -- integers past the 4,300-digit limit in request bodies --------------------------------
def test_start_body_with_a_long_int_is_a_400(client: httpx.Client) -> None:
    body = b'{"args": ["x", {"n": [0, ' + LONG + b"]}]}"
    assert_long_int_error(
        client.post(start_url("output_of"), content=body), 'body["args"][1]["n"][1]'
    )
    assert_long_int_error(client.post(start_url("output_of"), content=LONG), "body")


def test_start_body_with_an_int_at_the_limit_is_accepted(client: httpx.Client) -> None:
    resp = client.post(start_url("output_of"), content=b'{"args": [' + AT_LIMIT + b"]}")
    assert resp.status_code == 201, resp.text
    assert wait_end(client, resp.json()["run_id"])["output"] == int(AT_LIMIT)


def test_hook_resume_with_a_long_int_is_a_400(client: httpx.Client) -> None:
    token = "tok-long-int"
    run_id = start(client, "hook_with", "plain", token)
    first_chunk(client, run_id, "control")
    resp = client.post(f"/api/hooks/{token}", content=b'{"amount": ' + LONG + b"}")
    assert_long_int_error(resp, 'body["amount"]')
    assert client.post(f"/api/hooks/{token}", json="done").status_code == 200
    assert wait_end(client, run_id)["output"] == "done"


def test_fork_body_with_a_long_int_is_a_400(client: httpx.Client) -> None:
    run_id = start(client, "output_of", "plain")
    wait_end(client, run_id)
    resp = client.post(f"/api/runs/{run_id}/fork", content=b'{"from_step": ' + LONG + b"}")
    assert_long_int_error(resp, 'body["from_step"]')


def test_webhook_body_with_a_long_int_is_delivered_as_bytes(client: httpx.Client) -> None:
    run_id = start(client, "webhook_body")
    url = first_chunk(client, run_id, "control")
    body = b'{"n": ' + LONG + b"}"
    resp = client.post(url, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 202
    assert wait_end(client, run_id)["output"] == len(body)


# -- Last-Event-ID ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["-1", "-5", "abc", "1.5", "+3", "1_0", str(2**62), "9" * 30, "1" * 4301]
)
def test_last_event_id_out_of_range_is_a_400(client: httpx.Client, value: str) -> None:
    run_id = start(client, "stream_of", ["a"])
    resp = client.get(f"/api/runs/{run_id}/stream", headers={"last-event-id": value})
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]
    assert message.startswith("Last-Event-ID must be the id of a received event: an integer ")
    assert f"between 0 and {2**62 - 1}" in message


def test_last_event_id_resumes_after_that_event(client: httpx.Client) -> None:
    run_id = start(client, "stream_of", ["a", "b", "c"])
    assert [d for _, d in read_chunks(client, run_id)] == ["a", "b", "c"]
    with sse(client, run_id, headers={"last-event-id": "0"}) as (resp, events):
        assert resp.status_code == 200
        got = [(e.id, e.data) for e in events if e.event != "end"]
    assert got == [(1, "b"), (2, "c")]
    limit = str(2**62 - 1)  # the largest id accepted: resumes past the end
    with sse(client, run_id, headers={"last-event-id": limit}) as (resp, events):
        assert resp.status_code == 200
        assert [e.event for e in events] == ["end"]


# -- 405 with Allow, for every route ----------------------------------------------------------
_PROBES = ["PUT", "DELETE", "PATCH", "POST", "GET", "TRACE"]


def _routes() -> list[Route]:
    routes = [r for r in create_app("memory://").routes if isinstance(r, Route)]
    assert len(routes) >= 13
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{sorted(r.methods or [])} {r.path}")
def test_405_carries_allow_with_every_method_of_the_path(
    client: httpx.Client, route: Route
) -> None:
    path = _concrete(route.path)
    same_path = [r for r in _routes() if r.path_regex.fullmatch(path)]
    allowed = set().union(*(r.methods or set() for r in same_path))
    method = next(m for m in _PROBES if m not in allowed)
    resp = client.request(method, path)
    assert resp.status_code == 405, resp.text
    assert set(resp.headers["allow"].split(", ")) == allowed
    assert resp.json()["error"] == (
        f"method {method} not allowed here; allowed: {', '.join(sorted(allowed))}"
    )
