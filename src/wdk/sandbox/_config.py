"""Sandbox configuration: which modules workflow code may import, and where the cache lives."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT", "DEFAULT_ALLOWED_MODULES", "SHIMMED_MODULES", "SandboxConfig", "load_config"]

#: Real modules workflow code may import as they are (through a sanitized view, see
#: ``_imports.py``). Each is deterministic and does no I/O without an object the workflow
#: would have to get from somewhere else first.
DEFAULT_ALLOWED_MODULES: frozenset[str] = frozenset(
    {
        "abc",
        "base64",
        "binascii",
        "bisect",
        "collections",
        "collections.abc",
        "contextlib",
        "copy",
        "dataclasses",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "hmac",
        "itertools",
        "json",
        "math",
        "numbers",
        "pydantic",
        "re",
        "operator",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "typing",
        "typing_extensions",
        "wdk",
        "wdk.ai",
        "wdk.ai.providers",
    }
)

#: Modules replaced by a deterministic stand-in (``_shims.py``); ``asyncio`` maps to
#: ``wdk.runtime.asyncio_shim``.
SHIMMED_MODULES: frozenset[str] = frozenset({"asyncio", "datetime", "random", "time", "uuid"})


def _default_cache_dir() -> Path:
    root = os.environ.get("WDK_CACHE_DIR")
    base = Path(root) if root else Path.cwd() / ".wdk" / "cache"
    return base / "sandbox"


@dataclass(frozen=True)
class SandboxConfig:
    """How the workflow sandbox is set up. Immutable; derive variants with the ``with_*`` methods.

    Example::

        config = SandboxConfig().with_allowed_modules("yaml", "dateutil.parser")
    """

    extra_modules: frozenset[str] = frozenset()
    """Modules allowed on top of :data:`DEFAULT_ALLOWED_MODULES` (pyproject:
    ``[tool.wdk] sandbox-allowed-modules``). The project vouches that they are deterministic."""

    guard_all_attributes: bool = False
    """Route *every* attribute read through the ``_getattr_`` guard (also checking the object and
    the value for non-allow-listed modules at run time). About 2-4x slower for attribute-heavy
    code; by default only names that need a run-time check are guarded (see docs/sandbox.md)."""

    cache_dir: Path | None = None
    """Where compiled restricted code is cached; None means ``$WDK_CACHE_DIR/sandbox`` or
    ``.wdk/cache/sandbox`` under the current directory."""

    disk_cache: bool = True
    """Keep compiled code on disk (marshal) as well as in memory."""

    @property
    def allowed_modules(self) -> frozenset[str]:
        """Every real module workflow code may import (defaults plus extras)."""
        return DEFAULT_ALLOWED_MODULES | self.extra_modules

    def with_allowed_modules(self, *names: str) -> SandboxConfig:
        """A copy that also allows importing ``names`` (dotted module names)."""
        return dataclasses.replace(self, extra_modules=self.extra_modules | frozenset(names))

    def with_guard_all_attributes(self, value: bool = True) -> SandboxConfig:
        """A copy with :attr:`guard_all_attributes` set."""
        return dataclasses.replace(self, guard_all_attributes=value)

    def with_cache_dir(self, path: str | os.PathLike[str] | None) -> SandboxConfig:
        """A copy caching compiled code under ``path`` (None: the default location)."""
        return dataclasses.replace(self, cache_dir=None if path is None else Path(path))

    def with_disk_cache(self, value: bool) -> SandboxConfig:
        """A copy with the on-disk cache switched on or off."""
        return dataclasses.replace(self, disk_cache=value)

    def resolved_cache_dir(self) -> Path:
        """The directory compiled code is cached in."""
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()


#: The configuration used when none is given.
DEFAULT = SandboxConfig()


def load_config(project_dir: str | os.PathLike[str] | None = None) -> SandboxConfig:
    """The sandbox configuration of a project: :data:`DEFAULT` plus its pyproject extras.

    Reads ``[tool.wdk] sandbox-allowed-modules = ["yaml", ...]`` from ``pyproject.toml`` in
    ``project_dir`` (default: the current directory); a missing file or table gives DEFAULT.
    """
    path = Path(project_dir if project_dir is not None else Path.cwd()) / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT
    extras = data.get("tool", {}).get("wdk", {}).get("sandbox-allowed-modules", [])
    if not isinstance(extras, list) or not all(isinstance(x, str) for x in extras):
        raise ValueError(
            f"{path}: [tool.wdk] sandbox-allowed-modules must be a list of module names"
        )
    return DEFAULT.with_allowed_modules(*extras) if extras else DEFAULT
