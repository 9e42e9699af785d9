"""`wdk serve` warns at start-up when the API is open (no WDK_API_TOKEN) beyond loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_harness import serve, stop

WARNING = "WARNING: the API at"


def _startup(tmp: Path, host: str, token: str) -> tuple[str, list[str]]:
    """The printed address and the server's whole stderr, from start to stop."""
    srv = serve(tmp, env={"WDK_API_TOKEN": token}, args=("--host", host, "--workers", "0"))
    stop(srv)
    return srv.url, srv.log


def test_open_api_on_all_interfaces_warns_once(tmp_path: Path) -> None:
    url, head = _startup(tmp_path, "0.0.0.0", "")
    port = url.rsplit(":", 1)[1]
    warnings = [line for line in head if WARNING in line]
    assert len(warnings) == 1, head
    assert warnings[0].strip() == (
        f"wdk serve: WARNING: the API at http://0.0.0.0:{port}/api is open to anyone who can "
        "reach this address (WDK_API_TOKEN is not set): they can start, cancel and read runs "
        "and resume hooks. Set WDK_API_TOKEN to require a bearer token, or listen on "
        "--host 127.0.0.1."
    )


@pytest.mark.parametrize(
    ("host", "token"),
    [("127.0.0.1", ""), ("localhost", ""), ("0.0.0.0", "s3cret")],
)
def test_no_warning_on_loopback_or_with_a_token(tmp_path: Path, host: str, token: str) -> None:
    _, head = _startup(tmp_path, host, token)
    assert not [line for line in head if WARNING in line], head
