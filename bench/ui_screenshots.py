"""Take the screenshots in docs/img/ of the web UI and the chat page (Playwright + Chromium).

Starts ``wdk serve`` on fixtures/server (a few runs of ``ui_flows.py``: completed, retried,
failed, waiting on a typed hook) and ``wdk serve --chat`` on fixtures/ai's approval agent
with the built chat page, and saves:

* ``docs/img/ui-runs.png``: the runs list;
* ``docs/img/ui-run.png``: a run page (timeline, the selected step, hooks, streams, log);
* ``docs/img/ui-hook.png``: a run waiting on a typed hook, with its resume form;
* ``docs/img/chat.png``: the chat page with a tool approval request.

Run: ``.venv/bin/python bench/ui_screenshots.py [CHAT_DIST]`` (without CHAT_DIST the page is
built from web/chat with npm in a temp dir).
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "support"), str(ROOT / "tests" / "server")]
sys.path.insert(0, str(ROOT / "tests" / "chat"))

from chat_harness import serve_chat, stop_chat  # noqa: E402
from chat_page import CHROMIUM, build_page  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from server_harness import first_chunk, serve, stop, wait_end  # noqa: E402

IMG = ROOT / "docs" / "img"


def _start(client: httpx.Client, name: str, *args: object) -> str:
    wf = quote(f"workflow//ui_flows.py//{name}", safe="")
    resp = client.post(f"/api/workflows/{wf}/runs", json={"args": list(args)})
    resp.raise_for_status()
    return str(resp.json()["run_id"])


def ui_shots(tmp: Path, browser: object) -> None:
    """The runs list, a run page and a hook form."""
    srv = serve(tmp / "ui")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for item, qty in (("widget", 3), ("gadget", 2)):
                wait_end(client, _start(client, "order", item, qty))
            wait_end(client, _start(client, "fails", "the disk is full"))
            shown = _start(client, "order", "sprocket", 12)
            wait_end(client, shown)
            token = f"approve-{uuid.uuid4().hex[:8]}"
            waiting = _start(client, "approve", token)
            first_chunk(client, waiting, "default")
        page = browser.new_page(viewport={"width": 1280, "height": 720})  # type: ignore[attr-defined]
        page.goto(srv.url + "/")
        page.wait_for_selector(f'tr[data-run="{waiting}"]')
        page.screenshot(path=str(IMG / "ui-runs.png"))
        page.goto(f"{srv.url}/runs/{shown}")
        page.wait_for_selector('.gantt .row[data-kind="step"] >> nth=2')
        page.click('.gantt .row[data-kind="step"] >> nth=1')
        page.wait_for_selector("#detail .attempts")
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.screenshot(path=str(IMG / "ui-run.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{srv.url}/runs/{waiting}")
        page.wait_for_selector("form.resume")
        page.fill('form.resume input[name="by"]', "ops")
        page.screenshot(path=str(IMG / "ui-hook.png"))
        page.close()
    finally:
        stop(srv)


def chat_shot(tmp: Path, browser: object, dist: Path) -> None:
    """The chat page waiting for a tool approval."""
    srv = serve_chat(
        tmp / "chat",
        "agents:approval_agent",
        root=ROOT / "fixtures" / "ai",
        args=("--chat-page", str(dist)),
    )
    try:
        page = browser.new_page(viewport={"width": 900, "height": 560})  # type: ignore[attr-defined]
        page.goto(srv.url + "/chat/")
        page.wait_for_selector('#status[data-status="ready"]')
        page.fill("#input", "please delete /tmp/x")
        page.click("#send")
        page.wait_for_selector('.tool[data-state="approval-requested"]')
        page.screenshot(path=str(IMG / "chat.png"))
        page.close()
    finally:
        stop_chat(srv)


def main() -> None:
    """Take every screenshot."""
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "ui").mkdir()
        (tmp / "chat").mkdir()
        dist = Path(sys.argv[1]) if len(sys.argv) > 1 else build_page(tmp / "web")[0] / "dist"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                ui_shots(tmp, browser)
                chat_shot(tmp, browser, dist)
            finally:
                browser.close()
    print(f"screenshots in {IMG}")


if __name__ == "__main__":
    main()
