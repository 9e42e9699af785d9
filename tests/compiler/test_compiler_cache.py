"""load_module: cached in memory and on disk by content hash; warm loads skip compiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from wdk.compiler import _cache, _compile, load_module

SOURCE = "def charge(x):\n    'use step'\n    return x\n"


@pytest.fixture(autouse=True)
def _fresh_memory() -> None:
    _cache.clear_memory_cache()


def test_disk_cache_is_used_by_a_fresh_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WDK_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "pay.py"
    path.write_text(SOURCE)
    first = load_module("pay", path, "pay.py")
    assert [s.id for s in first.steps] == ["step//pay.py//charge"]
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1

    _cache.clear_memory_cache()  # what a new process sees

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("warm load must not compile")

    monkeypatch.setattr(_cache, "_compile", boom)
    assert load_module("pay", path, "pay.py") == first


def test_changed_content_recompiles(tmp_path: Path) -> None:
    path = tmp_path / "pay.py"
    path.write_text(SOURCE)
    first = load_module("pay", path, "pay.py", cache_dir=tmp_path / "c")
    path.write_text(SOURCE.replace("charge", "refund"))
    second = load_module("pay", path, "pay.py", cache_dir=tmp_path / "c")
    assert [s.qualname for s in second.steps] == ["refund"]
    assert first.sha256 != second.sha256


def test_same_content_other_module_gets_its_own_ids(tmp_path: Path) -> None:
    path = tmp_path / "pay.py"
    path.write_text(SOURCE)
    a = load_module("pay", path, "pay.py", cache_dir=tmp_path / "c")
    b = load_module("app.pay", path, "app/pay.py", cache_dir=tmp_path / "c")
    assert [s.id for s in a.steps] == ["step//pay.py//charge"]
    assert [s.id for s in b.steps] == ["step//app/pay.py//charge"]


def test_files_without_directives_stay_out_of_the_disk_cache(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text("X = 1\n")
    result = load_module("plain", path, "plain.py", cache_dir=tmp_path / "c")
    assert not result.has_directives and result.workflow_bundle == "X = 1\n"
    assert not (tmp_path / "c").exists()


def test_default_cache_dir_is_under_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WDK_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _cache.default_cache_dir() == tmp_path / ".wdk" / "cache" / "compiler"


def test_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "pay.py"
    path.write_text(SOURCE)
    assert load_module("pay", path, "pay.py", cache_dir=blocker / "sub").ok


def test_corrupt_entry_recompiles(tmp_path: Path) -> None:
    path = tmp_path / "pay.py"
    path.write_text(SOURCE)
    load_module("pay", path, "pay.py", cache_dir=tmp_path / "c")
    for entry in (tmp_path / "c").rglob("*.json"):
        entry.write_text("{not json")
    _cache.clear_memory_cache()
    assert load_module("pay", path, "pay.py", cache_dir=tmp_path / "c").steps


def test_compile_module_is_importable() -> None:
    assert _compile.maybe_has_directives("x = 'use step'")
    assert not _compile.maybe_has_directives("x = 1")
