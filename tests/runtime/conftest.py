from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

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


@pytest.fixture(params=["memory", "sqlite"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    from wdk.worlds import open_world

    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'wdk.db'}"
    w = open_world(url)
    await w.setup()
    try:
        yield w
    finally:
        await w.close()
