from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from openapi_check import checked_client  # noqa: E402
from server_harness import Server, serve, stop  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = serve(tmp_path_factory.mktemp("serve"), args=("--webhook-timeout", "5"))
    try:
        yield srv
    finally:
        stop(srv)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    # Every response is checked against the server's /openapi.json (tests/server/openapi_check).
    with checked_client(server.url, timeout=httpx.Timeout(30.0)) as c:
        yield c
