"""A real browser against `wdk serve --chat`: useChat + WorkflowChatTransport survive a cut.

The page (web/chat) is built here from the pinned lockfile with the real npm packages `ai`,
`@ai-sdk/react` and `@workflow/ai` (`npm ci` + `vite build`, packages from the registry only,
npm's cache in the test's temp dir). The server cuts every POST answer after 3 chunks
(`WDK_CHAT_ABORT_AFTER_CHUNKS`, a test-only switch); the transport must resume each turn with
`GET /api/chat/{run_id}/stream?startIndex=3`, and the page must end with every answer rendered
exactly once. Two turns run on one run (the multi-turn path: the follow-up carries `runId`).

Skipped when Chromium, node or npm is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_harness import serve_chat, stop_chat
from chat_page import run_tool as _run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_browser_chat_resumes_a_cut_answer_and_renders_it_once(
    page_dir: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    work, env = page_dir
    server = serve_chat(
        tmp_path,
        "chat_flows:chat_fixture",
        env={"WDK_CHAT_ABORT_AFTER_CHUNKS": "3"},
        args=("--chat-page", str(work / "dist")),
    )
    try:
        out = _run(
            ["node", "e2e/chat.e2e.mjs", f"{server.url}/chat/", "hello browser", "and a follow-up"],
            work,
            env,
            90,
        )
    finally:
        stop_chat(server)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["error"] is None, result
    assert result["status"] == "ready"
    assert result["messages"] == [
        {"role": "user", "text": "hello browser"},
        {"role": "assistant", "text": "turn 0: you said hello browser"},
        {"role": "user", "text": "and a follow-up"},
        {"role": "assistant", "text": "turn 1: you said and a follow-up"},
    ]
    # Each cut POST is followed by one resume from the chunks the page had parsed: 3 were
    # sent before the cut (Chromium may drop the last ones it had not handed over yet).
    requests = [(r["method"], r["url"].split("/stream")[-1]) for r in result["requests"]]
    assert [method for method, _ in requests] == ["POST", "GET", "POST", "GET"], result
    for method, query in requests:
        if method == "GET":
            assert query.startswith("?startIndex=") and 0 <= int(query[12:]) <= 3, result
    run_ids = {r["url"].split("/")[3] for r in result["requests"] if r["method"] == "GET"}
    assert len(run_ids) == 1, "both turns ran on one run"
    assert sum("cutting the response" in line for line in server.log) == 2
