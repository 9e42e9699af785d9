"""/openapi.json: generated from the models, matches the routes, says what real answers are.

Live responses of every server test are validated against the served document by the
``client`` fixture (tests/server/openapi_check.py); here: the route table against the app,
bearer security with and without a token, the checker itself, the run views, and
schemathesis finding no 5xx and no answer outside the document against a real server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_check import Checker
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from server_harness import Server, serve, stop
from starlette.routing import Route
from starlette.testclient import TestClient

from wdk import serde
from wdk.server import ServerConfig, create_app
from wdk.server import _models as models
from wdk.server._http import run_json
from wdk.server._openapi import OPENAPI_VERSION, OPERATIONS, openapi_document
from wdk.worlds.base import RunInfo

# Routes the web UI's branch adds (server/_routes_ui.py); documented here ahead of them.


def _served(app: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        out.update((m.lower(), path) for m in route.methods or () if m not in ("HEAD", "OPTIONS"))
    return out


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/.well-known/")) or path == "/healthz"


def _document(token: str | None = None) -> dict[str, Any]:
    client = TestClient(create_app("memory://", config=ServerConfig(api_token=token)))
    resp = client.get("/openapi.json")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_every_api_route_is_documented_and_every_operation_served() -> None:
    served = _served(create_app("memory://"))
    table = {(op.method, op.path) for op in OPERATIONS}
    assert {r for r in served if _is_api(r[1])} - table == set()
    assert table - served == set(), table - served
    doc = _document()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == table & served
    assert doc["openapi"] == OPENAPI_VERSION == "3.1.0"


def test_schemas_come_from_the_models() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for name in ("Run", "RunPage", "StartRunRequest", "ForkRequest", "StepView", "EventPage"):
        model = getattr(models, name)
        assert schemas[name]["properties"].keys() == model.model_json_schema()["properties"].keys()
    assert schemas["Run"]["properties"]["status"]["enum"] == [
        "queued",
        "pending",
        "running",
        "blocked",
        "completed",
        "failed",
        "cancelled",
    ]
    start = schemas["StartRunRequest"]
    assert start["additionalProperties"] is False and set(start["properties"]) == {
        "args",
        "run_id",
        "queue",
        "key",
        "priority",
        "dedupe_key",
        "debounce",
        "delay",
    }
    assert {"queue", "queue_key", "priority"} <= set(schemas["Run"]["properties"])
    step = schemas["StepView"]["properties"]
    assert {"attempts", "input", "output", "error", "duration_ms"} <= set(step)


def test_bearer_security_only_when_a_token_is_configured() -> None:
    open_doc = _document()
    assert "securitySchemes" not in open_doc["components"]
    for ops in open_doc["paths"].values():
        for op in ops.values():
            assert "security" not in op and "401" not in op["responses"]

    doc = _document("s3cret")
    assert doc["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The server's WDK_API_TOKEN (everything under /api needs it).",
        }
    }
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path.startswith("/api/"):
                assert op["security"] == [{"bearer": []}], path
                assert "401" in op["responses"], path
            else:  # health and webhooks never need the token
                assert "security" not in op and "401" not in op["responses"], path
    assert "security" not in doc  # no global requirement: /healthz and webhooks are open


def test_the_checker_rejects_what_the_document_does_not_say() -> None:
    checker = Checker(openapi_document())

    def answer(status: int, body: Any, path: str = "/api/runs/r1") -> httpx.Response:
        return httpx.Response(status, json=body, request=httpx.Request("GET", f"http://t{path}"))

    run = run_json(RunInfo("r1", "workflow//a.py//f", "running", 1.0))
    checker.check(answer(200, run))
    with pytest.raises(AssertionError, match="does not match"):
        checker.check(answer(200, {**run, "surprise": 1}))
    with pytest.raises(AssertionError, match="does not match"):
        checker.check(answer(200, {**run, "status": "sleeping"}))
    with pytest.raises(AssertionError, match="status not in the document"):
        checker.check(answer(418, {"error": "teapot"}))
    with pytest.raises(AssertionError, match="does not match"):
        checker.check(answer(404, {"message": "no error field"}))
    checker.check(answer(200, {"status": "ok"}, "/healthz"))


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        ("completed", {"output": serde.encode({"total": 3, "raw": b"\x00"})}),
        ("failed", {"error": serde.encode({"message": "boom", "code": "", "type": "ValueError"})}),
        (
            "blocked",
            {"error": serde.encode({"message": "diverged", "code": "REPLAY_DIVERGENCE"})},
        ),
        ("cancelled", {}),
        ("pending", {}),
    ],
)
def test_run_views_match_the_model_and_the_document(status: str, fields: dict[str, Any]) -> None:
    info = RunInfo("r1", "workflow//a.py//f", status, 1.0, 2.0, 3.0, **fields)
    view = run_json(info)
    models.Run.model_validate(view)
    checker = Checker(openapi_document())
    checker.validate("#/components/schemas/Run", view, status)


def test_document_is_served_under_a_mount_prefix() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/wdk", app=create_app("memory://"))])
    doc = TestClient(outer).get("/wdk/openapi.json").json()
    assert doc["servers"] == [{"url": "/wdk"}]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = serve(tmp_path_factory.mktemp("fuzz"), args=("--webhook-timeout", "1"))
    try:
        yield srv
    finally:
        stop(srv)


@pytest.mark.slow
def test_no_server_errors_and_no_undocumented_answers(fuzz_server: Server) -> None:
    # The operations are driven by hand: schemathesis' pytest plugin does not support this
    # pytest version.
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    # The runs feed never ends (it is a live view of every run), so a fuzzed call could only
    # time out; its events are checked against the models in test_server_ui_api.py.
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path != "/api/runs/feed"
    ]
    assert len(operations) >= 10
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=checks, timeout=30)

        check()
