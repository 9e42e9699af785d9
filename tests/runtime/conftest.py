from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import FIXTURES  # noqa: E402

if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """The same runtime suite on every world."""
    from wdk.worlds import open_world

    if request.param == "postgres":
        from pg import PG_URL, fresh_schema, require_postgres

        require_postgres()
        from wdk.worlds.postgres import PostgresWorld

        w: Any = PostgresWorld(PG_URL, schema=fresh_schema())
    elif request.param == "memory":
        w = open_world("memory://")
    else:
        w = open_world(f"sqlite:///{tmp_path / 'wdk.db'}")
    await w.setup()
    try:
        yield w
    finally:
        if request.param == "postgres":
            await w.drop_schema()
        await w.close()
