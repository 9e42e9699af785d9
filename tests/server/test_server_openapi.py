"""/openapi.json matches the routes, and schemathesis finds no 5xx against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from server_harness import Server, serve, stop
from starlette.routing import Route

from wdk.server import create_app
from wdk.server._openapi import openapi_document


def test_document_matches_routes() -> None:
    app = create_app("memory://")
    routes: dict[str, set[str]] = {}
    for route in app.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        routes.setdefault(path, set()).update(m.lower() for m in route.methods or ())
    documented = {path: set(ops) for path, ops in openapi_document()["paths"].items()}
    routes.pop("/openapi.json")
    for path, methods in routes.items():
        methods.discard("head")
        methods.discard("options")
        assert path in documented, path
        assert methods == documented[path], path


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = serve(tmp_path_factory.mktemp("fuzz"), args=("--webhook-timeout", "1"))
    try:
        yield srv
    finally:
        stop(srv)


@pytest.mark.slow
def test_no_server_errors(fuzz_server: Server) -> None:
    # The operations are driven by hand: schemathesis' pytest plugin does not support this
    # pytest version.
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=30)

        check()
