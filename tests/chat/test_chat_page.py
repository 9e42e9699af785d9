"""The chat page (web/chat) as a user sees it, in a real headless Chromium (Playwright).

A DurableAgent whose tool needs approval (fixtures/ai ``approval_agent``) answers through
``wdk serve --chat``: the page shows the tool call with its input, Approve / Deny buttons that
resume the approval hook, the tool's output (or its denial) and the answer; no empty message
is ever shown, and Send is usable again when the turn ends. A reload while the turn waits for
the decision picks the stream up again from the run.

Skipped when Chromium, node, npm or Playwright is missing, except under CI=true (fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_harness import ChatServer, serve_chat, stop_chat
from chat_page import CHROMIUM, skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

AI_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ai"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser(page_dir: tuple[Path, dict[str, str]]) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(page_dir: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[ChatServer]:
    work, _ = page_dir
    srv = serve_chat(
        tmp_path,
        "agents:approval_agent",
        root=AI_FIXTURES,
        args=("--chat-page", str(work / "dist")),
    )
    try:
        yield srv
    finally:
        stop_chat(srv)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


def _ask(page: Any, text: str) -> Any:
    page.wait_for_selector('#status[data-status="ready"]')
    page.fill("#input", text)
    page.click("#send")
    return page.wait_for_selector('.tool[data-state="approval-requested"]')


def _messages(page: Any) -> list[tuple[str, str]]:
    return [
        (m.get_attribute("data-role"), m.inner_text().strip())
        for m in page.query_selector_all(".message")
    ]


def _no_empty_message(page: Any) -> None:
    assert all(text for _, text in _messages(page)), _messages(page)


def test_approve_a_tool_call_from_the_page(server: ChatServer, page: Any) -> None:
    page.goto(server.url + "/chat/")
    tool = _ask(page, "delete it")
    assert tool.get_attribute("data-tool") == "delete_file"
    assert '"path": "/tmp/x"' in tool.query_selector(".tool-input").inner_text()
    _no_empty_message(page)
    assert page.is_disabled("#send"), "the turn is not over while it waits for the decision"
    tool.query_selector("button.approve").click()
    page.wait_for_selector('.tool[data-state="output-available"]')
    assert page.inner_text(".tool .tool-output") == "deleted /tmp/x"
    page.wait_for_selector('#status[data-status="ready"]')
    assert page.is_enabled("#send"), "Send is usable again when the turn ends"
    _no_empty_message(page)
    roles = [role for role, _ in _messages(page)]
    assert roles == ["user", "assistant"]
    assert _messages(page)[1][1].endswith("success: deleted /tmp/x")
    # The page is styled: the user's bubble has its own background.
    background = page.eval_on_selector(
        '.message[data-role="user"]', "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    # A second turn can be sent (the run is over: a new run answers, from the whole history).
    page.fill("#input", "and now?")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('.message').length == 4")
    page.wait_for_selector('#status[data-status="ready"]')
    assert [role for role, _ in _messages(page)] == ["user", "assistant", "user", "assistant"]
    _no_empty_message(page)


def test_deny_a_tool_call_from_the_page(server: ChatServer, page: Any) -> None:
    page.goto(server.url + "/chat/")
    tool = _ask(page, "delete it")
    tool.query_selector("input.reason").fill("not today")
    tool.query_selector("button.deny").click()
    page.wait_for_selector('.tool[data-state="output-denied"]')
    page.wait_for_selector('#status[data-status="ready"]')
    assert page.is_enabled("#send")
    _no_empty_message(page)
    answer = _messages(page)[-1]
    assert answer[0] == "assistant" and "denied" in answer[1], answer


def test_a_reload_while_waiting_resumes_the_stream(server: ChatServer, page: Any) -> None:
    page.goto(server.url + "/chat/")
    _ask(page, "delete it")
    page.reload()
    tool = page.wait_for_selector('.tool[data-state="approval-requested"]')
    requests = page.evaluate("window.__wdkRequests")
    assert [r["method"] for r in requests] == ["GET"], requests
    assert "/api/chat/wrun_" in requests[0]["url"] and "/stream" in requests[0]["url"]
    assert [role for role, _ in _messages(page)] == ["user", "assistant"]
    assert _messages(page)[0][1] == "delete it"
    tool.query_selector("button.approve").click()
    page.wait_for_selector('#status[data-status="ready"]')
    page.wait_for_selector('.tool[data-state="output-available"]')
    assert [role for role, _ in _messages(page)] == ["user", "assistant"]
    assert _messages(page)[1][1].endswith("success: deleted /tmp/x")
    # Reloading a finished conversation shows it as it was, without asking the server again.
    page.reload()
    page.wait_for_selector('.tool[data-state="output-available"]')
    assert page.evaluate("window.__wdkRequests") == []
    assert [role for role, _ in _messages(page)] == ["user", "assistant"]
