"""Fixtures for the world conformance suite: one ``world`` per backend, with a fake clock."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

# Make ``conformance`` (and the helpers beside it) importable under plain ``pytest tests/worlds``.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from conformance import FakeClock  # noqa: E402

PG_URL = os.environ.get("WDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: not skipping)")
    pytest.skip(reason)


_pg_reachable: bool | None = None


def _check_postgres() -> None:
    global _pg_reachable
    try:
        import wdk.worlds.postgres  # noqa: F401
    except ImportError as exc:
        _unavailable(f"wdk.worlds.postgres is not importable yet: {exc}")
    if _pg_reachable is None:
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=3):
                pass
            _pg_reachable = True
        except Exception:
            _pg_reachable = False
    if not _pg_reachable:
        _unavailable(f"PostgreSQL is unreachable at {PG_URL} (set WDK_TEST_POSTGRES_URL)")


async def _drop_schema(world: Any, schema: str) -> None:
    drop = getattr(world, "drop_schema", None)
    if drop is not None:
        await drop()
        return
    import psycopg

    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


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
        _check_postgres()
        from wdk.worlds.postgres import PostgresWorld

        schema = f"wdk_test_{uuid.uuid4().hex[:12]}"
        w = PostgresWorld(PG_URL, schema=schema, clock=clock)
    await w.setup()
    try:
        yield w
    finally:
        try:
            if request.param == "postgres":
                await _drop_schema(w, schema)
        finally:
            await w.close()
