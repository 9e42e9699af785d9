from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AI_FIXTURES = ROOT / "fixtures" / "ai"
for extra in (Path(__file__).parent, ROOT / "tests" / "runtime", AI_FIXTURES):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AI_TOOL_LOG", str(tmp_path / "tools.log"))


@pytest.fixture(params=["memory", "sqlite"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    from wdk.worlds import open_world

    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'wdk.db'}"
    w: Any = open_world(url)
    await w.setup()
    try:
        yield w
    finally:
        await w.close()


@pytest.fixture
def fake_openai() -> Iterator[Any]:
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server
