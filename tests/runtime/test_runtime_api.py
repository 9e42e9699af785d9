"""Client API, built-in fetch, bad step arguments and unregistered steps."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest
from harness import running

from wdk import serde
from wdk.api import list_runs
from wdk.errors import WorkflowError
from wdk.runtime import StepFunction

pytestmark = pytest.mark.anyio


async def test_unserializable_step_argument_fails_that_step_with_the_path(world):
    async with running(world) as h:
        message = await h.result("bad_step_args")
        assert 'args[0]["client"]' in message or "args[0]['client']" in message
        assert "object" in message


async def test_an_unregistered_step_blocks_the_run_instead_of_failing_it(world):
    # A step this code does not have is a deploy problem (docs/deploys.md): the run is parked
    # for code that has it, never failed and never retried in a loop.
    async with running(world) as h:
        ghost = StepFunction("step//flows.py//no_such_step")
        run = await h.start("call_reference", ghost)
        while (await run.status()) != "blocked":
            await world.wait_for_change([f"run:{run.run_id}"], 5)
    info = await run.info()
    block = serde.decode(info.error)
    assert block["code"] == "STEP_NOT_REGISTERED"
    assert "step//flows.py//no_such_step" in block["message"]
    types = [e.type for e in await run.events()]
    assert "step_failed" not in types and "step_retrying" not in types


@pytest.fixture
def http_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hello"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_fetch_is_a_builtin_step(world, http_url):
    async with running(world) as h:
        run = await h.start("fetch_json", http_url)
        assert await run.return_value(timeout=60) == {"status": 200, "body": {"path": "/hello"}}
        created = [e for e in await run.events() if e.type == "step_created"]
        assert len(created) == 1


async def test_list_runs_newest_first_with_filters(world):
    async with running(world) as h:
        first = await h.start("sequential", 1)
        await first.return_value(timeout=60)
        second = await h.start("fan_out", 2)
        await second.return_value(timeout=60)
        page = await list_runs(world=world)
        ids = [r.run_id for r in page.runs]
        assert ids.index(second.run_id) < ids.index(first.run_id)
        only = await list_runs(workflow="workflow//flows.py//fan_out", world=world)
        assert [r.run_id for r in only.runs] == [second.run_id]
        done = await list_runs(status="completed", world=world)
        assert {first.run_id, second.run_id} <= {r.run_id for r in done.runs}


def test_sync_twins(tmp_path):
    from wdk.api import sync
    from wdk.worlds import open_world

    world = open_world(f"sqlite:///{tmp_path / 'sync.db'}")

    async def serve() -> None:
        async with running(world) as h:
            await anyio.to_thread.run_sync(drive, h)

    def drive(h: object) -> None:
        run = sync.start("workflow//flows.py//sequential", [3], world=world)
        assert run.return_value(timeout=60) == [1, 2, 3]
        assert sync.get_run(run.run_id, world=world).status() == "completed"

    anyio.run(serve)
    anyio.run(world.close)


async def test_step_results_are_instances_of_the_runs_own_classes(world):
    async with running(world) as h:
        assert await h.result("dataclass_identity", "o-1") == [True, "o-1", 5]


def test_sync_twins_keep_a_postgres_world_across_calls():
    # Every blocking call runs on one background loop, so the world's connection pool, opened
    # by the first call, still works for the next ones (a loop per call would strand it).
    from pg import PG_URL, fresh_schema, require_postgres

    from wdk.api import sync
    from wdk.worlds.postgres import PostgresWorld

    require_postgres()
    world = PostgresWorld(PG_URL, schema=fresh_schema())
    try:
        first = sync.start("workflow//flows.py//sequential", [3], world=world)
        second = sync.start("workflow//flows.py//sequential", [4], world=world)
        second.cancel()
        assert first.status() == "pending"
        assert sync.get_run(second.run_id, world=world).status() == "cancelled"
        listed = sync.list_runs(world=world)
        assert {r.run_id for r in listed.runs} == {first.run_id, second.run_id}
    finally:
        sync._call(world.drop_schema)
        sync._call(world.close)


async def test_sync_twins_refuse_to_block_an_event_loop(world):
    from wdk.api import sync

    with pytest.raises(WorkflowError, match="await the same function from wdk.api"):
        sync.list_runs(world=world)
