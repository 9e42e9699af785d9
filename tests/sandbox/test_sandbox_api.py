"""The package's exports, configuration, compile cache and hash-seed helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import wdk.sandbox
from wdk.errors import SandboxError
from wdk.sandbox import (
    DEFAULT,
    DEFAULT_ALLOWED_MODULES,
    SandboxConfig,
    _cache,
    compile_workflow_code,
    hash_seed_ok,
    load_config,
)


def test_exports() -> None:
    assert wdk.sandbox.__all__ == [
        "DEFAULT",
        "DEFAULT_ALLOWED_MODULES",
        "DEFAULT_MAX_ALLOCATION",
        "DEFAULT_WORKFLOW_BUDGET_S",
        "SHIMMED_MODULES",
        "BundleSource",
        "Limiter",
        "SandboxConfig",
        "SliceExpired",
        "WorkflowSandbox",
        "allows_import",
        "compile_workflow_code",
        "ensure_hash_seed",
        "hash_seed_ok",
        "load_config",
    ]
    assert wdk.sandbox.__all__ == sorted(wdk.sandbox.__all__, key=lambda n: (not n.isupper(), n))


def test_config_builders_and_pyproject(tmp_path: Path) -> None:
    cfg = DEFAULT.with_allowed_modules("yaml").with_cache_dir(tmp_path).with_disk_cache(False)
    assert "yaml" in cfg.allowed_modules and "yaml" not in DEFAULT.allowed_modules
    assert cfg.resolved_cache_dir() == tmp_path and cfg.disk_cache is False
    assert DEFAULT_ALLOWED_MODULES <= cfg.allowed_modules
    assert load_config(tmp_path) is DEFAULT
    (tmp_path / "pyproject.toml").write_text(
        '[tool.wdk]\nsandbox-allowed-modules = ["yaml", "dateutil.parser"]\n'
    )
    assert load_config(tmp_path).extra_modules == frozenset({"yaml", "dateutil.parser"})
    (tmp_path / "pyproject.toml").write_text('[tool.wdk]\nsandbox-allowed-modules = "yaml"\n')
    with pytest.raises(ValueError, match="must be a list"):
        load_config(tmp_path)


def test_compile_cache_memory_and_disk(tmp_path: Path) -> None:
    cfg = SandboxConfig().with_cache_dir(tmp_path)
    src = "x = 1\n"
    first = compile_workflow_code(src, "/p/a.py", config=cfg)
    assert compile_workflow_code(src, "/p/a.py", config=cfg) is first
    files = list(tmp_path.rglob("*.marshal"))
    assert len(files) == 1
    _cache.clear_memory_cache()
    again = compile_workflow_code(src, "/p/a.py", config=cfg)
    assert again is not first and again.co_filename == "/p/a.py"
    other = compile_workflow_code(src, "/p/b.py", config=cfg)  # the filename is in the key
    assert other.co_filename == "/p/b.py"
    files[0].write_bytes(b"garbage")  # a corrupt entry is recompiled, not trusted
    _cache.clear_memory_cache()
    assert compile_workflow_code(src, "/p/a.py", config=cfg).co_filename == "/p/a.py"


def test_compile_error_is_sandbox_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"/p/bad.py:2: "):
        compile_workflow_code("x = 1\ny = x.__class__\n", "/p/bad.py")
    with pytest.raises(SandboxError, match=r"/p/syn.py:1: SyntaxError"):
        compile_workflow_code("def (:\n", "/p/syn.py")


def test_hash_seed_ok() -> None:
    assert hash_seed_ok({"PYTHONHASHSEED": "0"}) is True
    assert hash_seed_ok({"PYTHONHASHSEED": "123"}) is True
    assert hash_seed_ok({"PYTHONHASHSEED": "random"}) is False
    assert hash_seed_ok({}) is False


def test_ensure_hash_seed_reexecs() -> None:
    code = (
        "import os, sys\nfrom wdk.sandbox import ensure_hash_seed, hash_seed_ok\n"
        "ensure_hash_seed(sys.argv)\nprint(os.environ['PYTHONHASHSEED'], hash_seed_ok())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0", "True"]
    env["PYTHONHASHSEED"] = "42"  # a fixed seed is kept
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["42", "True"]
