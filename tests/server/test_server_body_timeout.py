"""Request bodies have a deadline (408) and a client leaving mid-body is one log line."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from server_harness import Server, serve, sse, stop

HOOK_PATH = "/api/hooks/tok-nobody"
PARTIAL = (
    f"POST {HOOK_PATH} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    "Content-Length: 100\r\n\r\n{"
).encode()


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[Server]:
    srv = serve(tmp_path, args=("--body-timeout", "1"))
    try:
        yield srv
    finally:
        stop(srv)


def _connect(server: Server) -> socket.socket:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    sock = socket.create_connection((url.hostname, url.port))
    sock.settimeout(60)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):  # the server closes the connection after a 408
        data += chunk
    return data


def _wait_for_line(server: Server, text: str) -> None:
    deadline = time.monotonic() + 60
    while not any(text in line for line in server.log):
        assert time.monotonic() < deadline, "".join(server.log)
        time.sleep(0.05)


def test_a_slow_sender_gets_408_and_the_connection_closes(slow_server: Server) -> None:
    with _connect(slow_server) as sock:
        sock.sendall(PARTIAL)
        raw = _read_response(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 408 Request Timeout"
    assert "connection: close" in [h.lower() for h in lines[1:]]
    assert json.loads(body) == {
        "error": "request body not received within 1s; send the whole body promptly (the "
        "server's limit is wdk serve --body-timeout)"
    }


def test_requests_and_streams_outlive_the_body_timeout(slow_server: Server) -> None:
    workflow = quote("workflow//hostile_flows.py//late_chunk", safe="")
    with httpx.Client(base_url=slow_server.url, timeout=httpx.Timeout(60.0)) as client:
        resp = client.post(f"/api/workflows/{workflow}/runs", json={"args": ["late"]})
        assert resp.status_code == 201, resp.text
        run_id = resp.json()["run_id"]
        # The chunk comes after the workflow's 3 s sleep: the stream stays open past the 1 s
        # body deadline (only the request body has one).
        with sse(client, run_id) as (stream, events):
            assert stream.status_code == 200
            first = next(events)
        assert (first.id, first.data) == (0, "late")


def test_a_client_leaving_mid_body_is_one_log_line(slow_server: Server) -> None:
    before = len(slow_server.log)
    with _connect(slow_server) as sock:
        sock.sendall(PARTIAL)
    line = "client disconnected while sending the request body of POST /api/hooks/{token}"
    _wait_for_line(slow_server, line)
    stop(slow_server)  # flushes whatever else the server would log about it
    after = "".join(slow_server.log[before:])
    assert after.count(line) == 1, after
    assert "Traceback" not in after and "ERROR" not in after, after
    assert "tok-nobody" not in after  # the token is a capability: masked in logs
