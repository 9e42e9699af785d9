"""``/docs`` in a real headless Chromium against `wdk serve` with ``WDK_API_TOKEN``.

Swagger UI renders every operation of the document from the files the wheel ships (no
request leaves the server's origin), a request without the token shows 401, and after
"Authorize" with the token "Execute" on ``GET /api/runs`` shows 200 with the run in it.

Skipped when Chromium or Playwright is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_harness import Server, serve, start, stop, wait_end

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "s3cret-docs"


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    srv = serve(tmp_path_factory.mktemp("docs"), env={"WDK_API_TOKEN": TOKEN})
    try:
        yield srv
    finally:
        stop(srv)


def test_swagger_ui_renders_the_api_and_calls_it_with_the_token(secured: Server) -> None:
    from playwright.sync_api import sync_playwright

    auth = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=secured.url, headers=auth, timeout=30) as client:
        run_id = start(client, "streams_demo")
        wait_end(client, run_id)
        operations = sum(len(ops) for ops in client.get("/openapi.json").json()["paths"].values())

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{secured.url}/docs")
            page.wait_for_selector(".opblock", timeout=60_000)
            assert page.locator(".opblock").count() == operations
            assert "wdk" in page.locator(".title").first.inner_text()

            runs = page.locator("#operations-runs-get_api_runs")
            runs.locator(".opblock-summary").click()
            _execute(page, runs)
            assert _status(runs) == "401"

            page.locator(".auth-wrapper button.authorize").click()
            page.locator(".modal-ux input").first.fill(TOKEN)
            page.locator(".modal-ux button.authorize").click()
            page.locator(".modal-ux button.btn-done").click()

            runs.locator("button.btn-clear").click()
            _execute(page, runs)
            assert _status(runs) == "200"
            assert (
                run_id
                in runs.locator(
                    ".live-responses-table tbody .response-col_description"
                ).inner_text()
            )
        finally:
            browser.close()
    assert requests and all(url.startswith(secured.url) for url in requests), requests


def _execute(page: Any, block: Any) -> None:
    with page.expect_response(lambda r: r.url.startswith(f"{page.url.split('/docs')[0]}/api/runs")):
        block.locator("button.execute").click()
    block.locator(".live-responses-table tbody .response-col_status").first.wait_for()


def _status(block: Any) -> str:
    return str(
        block.locator(".live-responses-table tbody .response-col_status").first.inner_text()
    ).strip()
