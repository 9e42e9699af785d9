"""The web UI in a real headless Chromium (Debian's, driven by Playwright) against `wdk serve`.

A run appears in the list live (no reload), its page shows the steps on the timeline with
decoded values and attempts, a typed hook is resumed from its form, a run is cancelled from
its page, and with ``WDK_API_TOKEN`` set nothing shows before the token is typed.

Skipped when Chromium or Playwright is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from server_harness import Server, first_chunk, serve, stop, wait_end

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: How long the page may take to show what the server has (the waits end on the event).
WAIT_MS = 20_000


def _missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


def _start(client: httpx.Client, name: str, *args: Any, run_id: str | None = None) -> str:
    body: dict[str, Any] = {"args": list(args)}
    if run_id is not None:
        body["run_id"] = run_id
    wf = quote(f"workflow//ui_flows.py//{name}", safe="")
    resp = client.post(f"/api/workflows/{wf}/runs", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["run_id"])


def test_a_new_run_appears_live_and_its_page_shows_steps_with_values(
    server: Server, client: httpx.Client, page: Any
) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#runs-body")
    page.wait_for_selector("#live:not([hidden])")
    page.evaluate("window.__sameDocument = true")
    run_id = _start(client, "order", "widget", 3, run_id=f"ui-{uuid.uuid4().hex[:10]}")
    row = page.wait_for_selector(f'tr[data-run="{run_id}"]')
    assert row.query_selector("td.id a").inner_text() == run_id  # the whole id
    row.query_selector("button.copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == run_id
    page.wait_for_selector(f'tr[data-run="{run_id}"] [data-status="completed"]')
    assert page.evaluate("window.__sameDocument") is True, "the list updated without a reload"

    page.click(f'tr[data-run="{run_id}"] td.id a')
    page.wait_for_selector('#run-head [data-status="completed"]')
    assert page.inner_text("#run-id") == run_id
    page.wait_for_selector('.gantt .row[data-kind="step"] >> nth=2')
    labels = page.locator('.gantt .row[data-kind="step"] .label').all_inner_texts()
    assert [label.split()[0] for label in labels] == ["price", "flaky", "say"]
    assert page.locator('.gantt .row[data-kind="sleep"]').count() == 1
    assert page.locator(".gantt .bar").count() >= 5
    assert "×2" in labels[1], "the retried step shows its attempts"

    page.click('.gantt .row[data-kind="step"] >> nth=0')
    page.wait_for_selector("#detail:not([hidden]) pre.output")
    assert '"total": 21' in page.inner_text("#detail pre.output")
    assert '"widget"' in page.inner_text("#detail pre.input")

    page.click('.gantt .row[data-kind="step"] >> nth=1')
    page.wait_for_function("document.querySelectorAll('#detail .attempts tbody tr').length == 2")
    assert "flaky inventory failed on attempt 1" in page.inner_text("#detail table.attempts")
    assert page.locator("#events tbody tr").count() > 10
    page.wait_for_selector('#streams .tab[data-namespace="log"]')
    page.wait_for_selector('ol.chunks[data-namespace="log"] li')
    assert page.inner_text('ol.chunks[data-namespace="log"]') == "priced widget"
    assert page.inner_text("#deployment").startswith("code-")


def test_resume_a_typed_hook_from_its_form(server: Server, client: httpx.Client, page: Any) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    run_id = _start(client, "approve", token)
    first_chunk(client, run_id, "default")
    page.goto(f"{server.url}/runs/{run_id}")
    form = page.wait_for_selector(f'.hook[data-token="{token}"] form.resume')
    assert page.inner_text(f'.hook[data-token="{token}"] code.id') == token
    form.query_selector('input[name="approved"]').check()
    form.query_selector('input[name="by"]').fill("ops")
    form.query_selector('button[type="submit"]').click()
    page.wait_for_selector(f'.hook[data-token="{token}"] .ok')
    page.wait_for_selector('#run-head [data-status="completed"]')
    page.wait_for_function(
        "document.querySelector('#run-head pre.output')?.textContent.includes('\"ops\"')"
    )
    page.wait_for_function(
        "[...document.querySelectorAll('ol.chunks li')].some(li => li.textContent == 'decided by"
        " ops')"
    )
    assert wait_end(client, run_id)["output"] == {"approved": True, "by": "ops"}


def test_a_rejected_payload_shows_the_schema_errors(
    server: Server, client: httpx.Client, page: Any
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    run_id = _start(client, "wait_forever", token)
    first_chunk(client, run_id, "default")
    page.goto(f"{server.url}/runs/{run_id}")
    form = page.wait_for_selector(f'.hook[data-token="{token}"] form.resume')
    form.query_selector("textarea.payload").fill("{not json")
    form.query_selector('button[type="submit"]').click()
    page.wait_for_selector(f'.hook[data-token="{token}"] .form-errors li')
    assert "not JSON" in page.inner_text(f'.hook[data-token="{token}"] .form-errors')
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "running"
    client.post(f"/api/runs/{run_id}/cancel")


def test_cancel_a_run_from_its_page(server: Server, client: httpx.Client, page: Any) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    run_id = _start(client, "wait_forever", token)
    first_chunk(client, run_id, "default")
    page.goto(f"{server.url}/runs/{run_id}")
    page.wait_for_selector('#run-head [data-status="running"]')
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    page.wait_for_selector('#run-head [data-status="cancelled"]')
    assert page.locator("#cancel").count() == 0
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"


def test_token_gate_shows_nothing_before_the_token(tmp_path: Path, page: Any) -> None:
    srv = serve(tmp_path, env={"WDK_API_TOKEN": "gate-token"})
    try:
        auth = {"authorization": "Bearer gate-token"}
        with httpx.Client(base_url=srv.url, timeout=30, headers=auth) as client:
            run_id = _start(client, "order", "gated-item", 1)
            wait_end(client, run_id)
        seen: list[str] = []
        page.on("response", lambda resp: seen.append(f"{resp.status} {resp.url}"))
        page.goto(srv.url + "/")
        page.wait_for_selector("#token-form")
        assert run_id not in page.content()
        assert page.locator("tr[data-run]").count() == 0
        page.fill("#token-input", "wrong")
        page.click('#token-form button[type="submit"]')
        page.wait_for_selector("#token-error:not([hidden])")
        assert "refused" in page.inner_text("#token-error")
        assert run_id not in page.content()
        page.fill("#token-input", "gate-token")
        page.click('#token-form button[type="submit"]')
        page.wait_for_selector(f'tr[data-run="{run_id}"]')
        assert all("gate-token" not in line for line in seen), "the token never goes in a URL"
        page.reload()  # the token stays for the tab's session
        page.wait_for_selector(f'tr[data-run="{run_id}"]')
        page.click("#signout")
        page.wait_for_selector("#token-form")
        assert run_id not in page.content()
    finally:
        stop(srv)
