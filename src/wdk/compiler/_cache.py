"""Compile-once caching by content hash, shared by ``wdk build`` and the runtime.

Two levels: an in-process dict keyed by ``(module, relpath, sha256)`` and one JSON file per
result on disk (``.wdk/cache/compiler`` under the current directory, or ``$WDK_CACHE_DIR``).
A warm lookup reads the file, hashes it and loads a small JSON document: no parsing. Files
without any directive are not written to disk (recompiling them is a regex search).
Cache writes are atomic (temp file + rename) and failures to write are ignored, so a read-only
checkout still works.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path

from wdk.compiler._model import ModuleResult
from wdk.compiler._prefilter import maybe_has_directives

__all__ = ["COMPILER_VERSION", "compile_bytes", "default_cache_dir", "load_module"]

#: Bump whenever the compiler's output changes for the same input: old cache entries then miss.
COMPILER_VERSION = "5"

_MEMORY_LIMIT = 4096
_memory: dict[tuple[str, str, str], ModuleResult] = {}
_lock = threading.Lock()


def default_cache_dir() -> Path:
    """``$WDK_CACHE_DIR`` if set, else ``.wdk/cache/compiler`` under the current directory."""
    env = os.environ.get("WDK_CACHE_DIR")
    return Path(env) if env else Path.cwd() / ".wdk" / "cache" / "compiler"


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return importlib.util.decode_source(data)  # PEP 263 coding cookie
    return text[1:] if text.startswith("\ufeff") else text


def _entry(cache_dir: Path, sha: str, module: str, relpath: str) -> Path:
    meta = hashlib.sha256(f"{COMPILER_VERSION}\0{module}\0{relpath}".encode()).hexdigest()
    return cache_dir / sha[:2] / f"{sha}-{meta[:16]}.json"


def _read(path: Path) -> ModuleResult | None:
    try:
        data = json.loads(path.read_bytes())
        return ModuleResult.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, result: ModuleResult) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(result.to_dict(), ensure_ascii=False))
        os.replace(tmp, path)
    except OSError:
        pass


def _compile(source: str, *, relpath: str, module: str, sha256: str) -> ModuleResult:
    # Imported on a miss only: a warm lookup needs no parser (wdk run of an unchanged project).
    from wdk.compiler._compile import compile_text

    return compile_text(source, relpath=relpath, module=module, sha256=sha256)


def compile_bytes(
    data: bytes, *, module: str, relpath: str, cache_dir: Path | None = None
) -> ModuleResult:
    """Compile a file's bytes through both cache levels."""
    sha = hashlib.sha256(data).hexdigest()
    key = (module, relpath, sha)
    hit = _memory.get(key)
    if hit is not None:
        return hit
    source = _decode(data)
    if not maybe_has_directives(source):
        result = _compile(source, relpath=relpath, module=module, sha256=sha)
    else:
        path = _entry(cache_dir or default_cache_dir(), sha, module, relpath)
        cached = _read(path)
        if cached is not None and cached.sha256 == sha:
            result = cached
        else:
            result = _compile(source, relpath=relpath, module=module, sha256=sha)
            _write(path, result)
    with _lock:
        if len(_memory) >= _MEMORY_LIMIT:
            _memory.clear()
        _memory[key] = result
    return result


def load_module(
    module: str, path: Path, relpath: str, *, cache_dir: Path | None = None
) -> ModuleResult:
    """Compile the file at ``path`` (cached in memory and on disk by content hash).

    Args:
        module: Dotted module name (``app.orders``).
        path: The file to read.
        relpath: Its path relative to the source root (``app/orders.py``).
        cache_dir: Where cache entries live; default :func:`default_cache_dir`.
    """
    return compile_bytes(
        Path(path).read_bytes(), module=module, relpath=relpath, cache_dir=cache_dir
    )


def clear_memory_cache() -> None:
    """Forget in-process results (tests; the disk cache stays)."""
    with _lock:
        _memory.clear()
