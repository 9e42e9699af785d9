"""Sandbox configuration: which modules workflow code may import, where the cache lives, limits."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wdk._duration import parse_duration

__all__ = [
    "DEFAULT",
    "DEFAULT_ALLOWED_MODULES",
    "DEFAULT_MAX_ALLOCATION",
    "DEFAULT_WORKFLOW_BUDGET_S",
    "SHIMMED_MODULES",
    "SandboxConfig",
    "load_config",
    "parse_size",
]

#: Seconds a workflow activation may run without reaching a durable call (docs/sandbox.md).
DEFAULT_WORKFLOW_BUDGET_S = 5.0

#: Bytes the largest value one operation of workflow code may build (64 MiB).
DEFAULT_MAX_ALLOCATION = 64 * 1024 * 1024

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

    workflow_budget_s: float = DEFAULT_WORKFLOW_BUDGET_S
    """Seconds one activation of workflow code (from an event to the point where every task
    waits on a durable call) may run before it is stopped with ``BudgetExceededError``; 0 turns
    the check off (pyproject: ``[tool.wdk] workflow-budget``; env ``WDK_WORKFLOW_BUDGET``)."""

    max_allocation: int = DEFAULT_MAX_ALLOCATION
    """Bytes the largest value one guarded operation (``seq * n``, ``range``, ``bytes(n)``,
    ``**``, ``str.join``...) may build before it is refused with ``AllocationLimitError``
    (pyproject: ``[tool.wdk] max-allocation``; env ``WDK_MAX_ALLOCATION``)."""

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

    def with_limits(
        self, *, workflow_budget_s: float | None = None, max_allocation: int | None = None
    ) -> SandboxConfig:
        """A copy with the given limits changed (None keeps a limit as it is)."""
        changes: dict[str, Any] = {}
        if workflow_budget_s is not None:
            changes["workflow_budget_s"] = float(workflow_budget_s)
        if max_allocation is not None:
            changes["max_allocation"] = int(max_allocation)
        return dataclasses.replace(self, **changes) if changes else self

    def resolved_cache_dir(self) -> Path:
        """The directory compiled code is cached in."""
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()


#: The configuration used when none is given.
DEFAULT = SandboxConfig()


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024,
          "mib": 1024**2, "gib": 1024**3}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object, where: str) -> int:
    """Bytes from ``67108864``, ``"64MiB"``, ``"500 kB"``... ValueError naming ``where`` if not."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    unit = _UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None or float(m.group(1)) <= 0:
        raise ValueError(
            f"{where}: {value!r} is not a size; write bytes (67108864) or a number with a "
            'unit: B, kB, MB, GB, KiB, MiB, GiB ("64MiB")'
        )
    return int(float(m.group(1)) * unit)


def _budget(value: object, where: str) -> float:
    try:
        return 0.0 if value in (0, "0") else parse_duration(value)
    except Exception as exc:  # noqa: BLE001 - restated with where the value came from
        raise ValueError(
            f'{where}: {value!r} is not a duration; write seconds (5, 0.5) or "5s", '
            '"2.5s"; 0 turns the budget off'
        ) from exc


def _number_or_text(raw: str) -> object:
    try:
        return float(raw)
    except ValueError:
        return raw


def _with_env_limits(config: SandboxConfig, environ: Any) -> SandboxConfig:
    budget = environ.get("WDK_WORKFLOW_BUDGET", "").strip()
    size = environ.get("WDK_MAX_ALLOCATION", "").strip()
    return config.with_limits(
        workflow_budget_s=_budget(_number_or_text(budget), "WDK_WORKFLOW_BUDGET")
        if budget
        else None,
        max_allocation=parse_size(int(size) if size.isdigit() else size, "WDK_MAX_ALLOCATION")
        if size
        else None,
    )


def load_config(
    project_dir: str | os.PathLike[str] | None = None, environ: Any = None
) -> SandboxConfig:
    """The sandbox configuration of a project: :data:`DEFAULT` plus its pyproject settings.

    Reads ``[tool.wdk]`` from ``pyproject.toml`` in ``project_dir`` (default: the current
    directory): ``sandbox-allowed-modules = ["yaml", ...]``, ``workflow-budget = "5s"``,
    ``max-allocation = "64MiB"``; then ``WDK_WORKFLOW_BUDGET`` and ``WDK_MAX_ALLOCATION``
    from ``environ`` (default ``os.environ``) override the limits. A missing file or table
    gives the defaults.
    """
    env = os.environ if environ is None else environ
    path = Path(project_dir if project_dir is not None else Path.cwd()) / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _with_env_limits(DEFAULT, env)
    table = data.get("tool", {}).get("wdk", {})
    extras = table.get("sandbox-allowed-modules", [])
    if not isinstance(extras, list) or not all(isinstance(x, str) for x in extras):
        raise ValueError(
            f"{path}: [tool.wdk] sandbox-allowed-modules must be a list of module names"
        )
    config = DEFAULT.with_allowed_modules(*extras) if extras else DEFAULT
    if "workflow-budget" in table:
        where = f"{path}: [tool.wdk] workflow-budget"
        config = config.with_limits(workflow_budget_s=_budget(table["workflow-budget"], where))
    if "max-allocation" in table:
        where = f"{path}: [tool.wdk] max-allocation"
        config = config.with_limits(max_allocation=parse_size(table["max-allocation"], where))
    return _with_env_limits(config, env)
