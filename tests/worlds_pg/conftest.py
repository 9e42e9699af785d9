"""Fixtures for the PostgreSQL-specific world tests.

Every test gets its own schema (``wdk_t_<random>``), dropped afterwards. The server is
the one of tests/support/pg.py; when it cannot be reached the tests skip, unless ``CI=true``,
where a missing server is a failure.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from pg import PG_URL, require_postgres


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pg_url() -> str:
    """The server URL; skips (or fails on CI) when the server is down."""
    require_postgres()
    return PG_URL


@pytest.fixture
def schema(pg_url: str) -> Any:
    """A fresh schema name, dropped after the test (whatever the test left in it)."""
    name = f"wdk_t_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


WorldFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def make_world(pg_url: str, schema: str) -> AsyncIterator[WorldFactory]:
    """Open more worlds on the test's schema (each with its own pool); all closed after."""
    from wdk.worlds.postgres import PostgresWorld

    opened: list[PostgresWorld] = []

    async def make(**kwargs: Any) -> PostgresWorld:
        world = PostgresWorld(pg_url, schema=schema, **kwargs)
        opened.append(world)
        await world.setup()
        return world

    try:
        yield make
    finally:
        for world in opened:
            await world.close()


@pytest.fixture
async def world(make_world: WorldFactory, clock: FakeClock) -> Any:
    """A set-up world on a fresh schema, driven by a fake clock."""
    return await make_world(clock=clock)
