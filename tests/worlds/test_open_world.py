"""open_world: URL schemes, defaults and errors; the package's exported names."""

from __future__ import annotations

from pathlib import Path

import pytest

import wdk.worlds
from wdk.errors import WorldError
from wdk.worlds import MemoryWorld, SqliteWorld, open_world


def test_exports() -> None:
    assert wdk.worlds.__all__ == sorted(wdk.worlds.__all__)
    assert set(wdk.worlds.__all__) == {
        "DEFAULT_URL",
        "MemoryWorld",
        "SqliteWorld",
        "World",
        "open_world",
    }


def test_default_is_sqlite_under_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WDK_WORLD", raising=False)
    monkeypatch.chdir(tmp_path)
    world = open_world()
    assert isinstance(world, SqliteWorld)
    assert world.path == str(tmp_path / ".wdk" / "wdk.db")
    assert world.url == "sqlite:///.wdk/wdk.db"
    assert not (tmp_path / ".wdk").exists()  # created on first use, not on open


def test_env_var_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_WORLD", "memory://")
    assert isinstance(open_world(), MemoryWorld)
    assert isinstance(open_world("memory://"), MemoryWorld)


def test_sqlite_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_world("sqlite:///data/x.db")
    assert isinstance(rel, SqliteWorld) and rel.path == str(tmp_path / "data" / "x.db")
    absolute = open_world(f"sqlite:///{tmp_path / 'y.db'}")  # -> sqlite:////tmp/...
    assert isinstance(absolute, SqliteWorld) and absolute.path == str(tmp_path / "y.db")
    normal = open_world("sqlite:///z.db?synchronous=normal")
    assert isinstance(normal, SqliteWorld) and normal.synchronous == "normal"
    assert open_world("sqlite:///z.db?busy_timeout=2.5").busy_timeout == 2.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    ["sqlite://host/x.db", "sqlite:///", "sqlite:///x.db?bogus=1", "sqlite:///x.db?busy_timeout=x"],
)
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(WorldError):
        open_world(url)


@pytest.mark.anyio
async def test_named_memory_worlds_share_a_store() -> None:
    from wdk.worlds.base import NewEvent

    a, b, other = (
        open_world("memory://shared-t"),
        open_world("memory://shared-t"),
        open_world("memory://"),
    )
    await a.append("r1", [NewEvent("step_started", "c")])
    assert len(await b.read_events("r1")) == 1
    assert await other.read_events("r1") == []


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(WorldError, match=r"sqlite:///.*memory://.*postgresql://"):
        open_world("redis://localhost")


def test_postgres_scheme_is_lazy() -> None:
    world = open_world("postgresql://nobody@127.0.0.1:1/none")
    assert type(world).__name__ == "PostgresWorld"
    assert type(open_world("postgres://nobody@127.0.0.1:1/none")).__name__ == "PostgresWorld"
