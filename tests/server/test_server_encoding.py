"""SSE chunk encoding and the JSON views (in-process, no server)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from wdk import Response, serde
from wdk._webhooks import HookMeta, WebhookRequest, unwrap_metadata
from wdk.serde._json import encoded_json, safe_text, to_jsonable, value_json
from wdk.server._sse import format_chunk


def _event(value: object, index: int = 7) -> tuple[str, object]:
    text = format_chunk(index, serde.encode(value)).decode()
    lines = text.splitlines()
    assert lines[0] == f"id: {index}" and text.endswith("\n\n")
    return lines[0], json.loads(lines[1].removeprefix("data: "))


def test_json_values_pass_through() -> None:
    assert _event({"a": [1, 2.5, None, True, "x"]})[1] == {"a": [1, 2.5, None, True, "x"]}
    assert _event(("t", 1))[1] == ["t", 1]


def test_bytes_become_base64_with_a_marker() -> None:
    raw = b"\x00\x01\xff"
    marker = {"$bytes": base64.b64encode(raw).decode()}
    assert _event(raw)[1] == marker
    assert _event({"nested": [raw]})[1] == {"nested": [marker]}


def test_values_without_json_form_are_sent_as_serde() -> None:
    when = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    data = _event({"at": when})[1]
    assert isinstance(data, dict) and set(data) == {"$serde"}
    assert serde.decode(base64.b64decode(data["$serde"])) == {"at": when}


def test_webhook_values_round_trip() -> None:
    req = WebhookRequest("POST", "http://x/y", {"a": "b"}, b"{}", "wrun_1", "r1")
    assert serde.decode(serde.encode(req)) == req
    assert req.json() == {} and req.text() == "{}"
    meta = HookMeta(user={"k": 1}, webhook="static", response=Response("no", status=402))
    back = serde.decode(serde.encode(meta))
    assert back == meta
    assert unwrap_metadata(back) == ({"k": 1}, meta)
    assert unwrap_metadata({"plain": 1})[0] == {"plain": 1}


def test_values_json_cannot_carry_are_sent_as_serde() -> None:
    for value in (10**4300, float("nan"), float("inf"), "caf\udce9", {"k\udce9": 1}, [1, 10**5000]):
        with pytest.raises(TypeError):
            to_jsonable(value)
        data = _event(value)[1]
        assert isinstance(data, dict) and set(data) == {"$serde"}, value
        assert serde.encode(serde.decode(base64.b64decode(data["$serde"]))) == serde.encode(value)
        assert encoded_json(serde.encode(value)) == data
        assert value_json(value) == data


def test_values_at_the_edge_stay_plain_json() -> None:
    assert to_jsonable(10**4299) == 10**4299  # 4,300 digits: still converts
    assert to_jsonable(-(10**4299)) == -(10**4299)
    assert to_jsonable({"café": "naïve"}) == {"café": "naïve"}
    assert _event([2**14000, "é"])[1] == [2**14000, "é"]


def test_undecodable_bytes_and_unencodable_values_never_raise() -> None:
    assert encoded_json(b"\xc1") == {"$serde": base64.b64encode(b"\xc1").decode()}
    assert value_json(object()) is None


def test_safe_text_always_gives_utf8_text() -> None:
    assert safe_text("plain") == "plain"
    assert safe_text("caf\udce9") == "caf\\udce9"
    assert safe_text(10**4301) == "<int that cannot be shown as text>"
    assert safe_text(12) == "12"
