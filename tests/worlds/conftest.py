"""Fixtures for the world conformance suite: one ``world`` per backend, with a fake clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

# Make ``conformance`` (and the helpers beside it) importable under plain ``pytest tests/worlds``.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from conformance import FakeClock  # noqa: E402
from pg import PG_URL, fresh_schema, require_postgres  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Any]:
    """A fresh, set-up world of each backend whose clock is the test's ``clock``."""
    if request.param == "memory":
        from wdk.worlds.memory import MemoryWorld

        w: Any = MemoryWorld(clock=clock)
    elif request.param == "sqlite":
        from wdk.worlds.sqlite import SqliteWorld

        w = SqliteWorld(tmp_path / "wdk.db", clock=clock)
    else:
        require_postgres()
        from wdk.worlds.postgres import PostgresWorld

        w = PostgresWorld(PG_URL, schema=fresh_schema(), clock=clock)
    await w.setup()
    try:
        yield w
    finally:
        try:
            if request.param == "postgres":
                await w.drop_schema()
        finally:
            await w.close()
