"""`wdk hooks resume`, `wdk inspect hooks|streams` and `wdk cancel` next to a running server."""

from __future__ import annotations

import json

import httpx
from server_harness import Server, cli, first_chunk, start, wait_end


def test_cli_hooks_and_streams(client: httpx.Client, server: Server) -> None:
    run_id = start(client, "feed", "tok-cli")
    first_chunk(client, run_id, "control")

    hooks = json.loads(cli(server, "inspect", "hooks", "--json").stdout)
    mine = [h for h in hooks if h["token"] == "tok-cli"]
    assert mine and mine[0]["run_id"] == run_id and mine[0]["kind"] == "hook"

    done = cli(server, "hooks", "resume", "tok-cli", '{"from": "cli"}')
    assert done.returncode == 0, done.stderr
    assert run_id in done.stdout
    assert first_chunk(client, run_id, "default", 0) == {"from": "cli"}

    streams = json.loads(cli(server, "inspect", "streams", run_id, "--json").stdout)
    by_ns = {s["namespace"]: s for s in streams}
    assert by_ns["default"]["tail_index"] == 0 and by_ns["control"]["tail_index"] == 0
    chunks = cli(server, "inspect", "streams", run_id, "--namespace", "default").stdout
    assert [json.loads(line) for line in chunks.splitlines()] == [
        {"index": 0, "value": {"from": "cli"}}
    ]

    missing = cli(server, "hooks", "resume", "tok-missing", "1")
    assert missing.returncode == 1 and "tok-missing" in missing.stderr

    cancelled = cli(server, "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert wait_end(client, run_id)["status"] == "cancelled"


def test_cli_schema_rejection(client: httpx.Client, server: Server) -> None:
    run_id = start(client, "typed", "tok-cli-typed")
    first_chunk(client, run_id, "control")
    bad = cli(server, "hooks", "resume", "tok-cli-typed", '{"approved": 1.5}')
    assert bad.returncode == 1
    assert "by" in bad.stderr
    ok = cli(server, "hooks", "resume", "tok-cli-typed", '{"approved": false, "by": "cli"}')
    assert ok.returncode == 0, ok.stderr
    assert wait_end(client, run_id)["output"] == {"approved": False, "by": "cli"}
