"""The compiler's result types: what one module compiles to, and what a tree build gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from wdk.compiler._diagnostics import Diagnostic

__all__ = ["BuildResult", "ModuleResult", "StepInfo", "WorkflowInfo"]

Bind = Literal["instance", "static", "class"]


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """A ``"use workflow"`` function."""

    id: str
    """``workflow//<relpath>//<qualname>``."""
    module: str
    """Dotted module name."""
    qualname: str
    """The function's name (workflows are always module-level)."""
    file: str
    """Relpath of the source file."""
    line: int
    """Line of the ``def``."""

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {
            "id": self.id,
            "module": self.module,
            "qualname": self.qualname,
            "file": self.file,
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowInfo:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=data["id"],
            module=data["module"],
            qualname=data["qualname"],
            file=data["file"],
            line=data["line"],
        )


@dataclass(frozen=True, slots=True)
class StepInfo:
    """A ``"use step"`` function (module-level, nested or a method)."""

    id: str
    """``step//<relpath>//<qualname>``."""
    module: str
    """Dotted module name."""
    qualname: str
    """wdk qualname: ``charge``, ``make_client/f``, ``Cart.make``, ``Cart#total``."""
    file: str
    """Relpath of the source file."""
    line: int
    """Line of the ``def``."""
    kind: Literal["sync", "async"]
    """``"async"`` for ``async def``."""
    captures: tuple[str, ...] = ()
    """Sorted free variables a nested step reads from its enclosing functions."""
    bind: Bind | None = None
    """For methods: how the method binds (``"instance"``, ``"static"``, ``"class"``)."""
    max_retries: int | None = None
    """``<step>.max_retries = <int>`` when set literally at module level."""
    max_delay: float | None = None
    """``<step>.max_delay = <duration>`` in seconds, when set literally at module level."""

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry (``max_delay`` only when set)."""
        entry: dict[str, Any] = {
            "id": self.id,
            "module": self.module,
            "qualname": self.qualname,
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "captures": list(self.captures),
            "bind": self.bind,
            "max_retries": self.max_retries,
        }
        if self.max_delay is not None:
            entry["max_delay"] = self.max_delay
        return entry

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepInfo:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=data["id"],
            module=data["module"],
            qualname=data["qualname"],
            file=data["file"],
            line=data["line"],
            kind="async" if data["kind"] == "async" else "sync",
            captures=tuple(data["captures"]),
            bind=data["bind"],
            max_retries=data["max_retries"],
            max_delay=data.get("max_delay"),
        )


@dataclass(frozen=True, slots=True)
class ModuleResult:
    """What one source file compiles to.

    When the file has no directive, both bundles equal the source.
    """

    module: str
    """Dotted module name."""
    relpath: str
    """Path relative to the source root, ``/``-separated."""
    workflow_bundle: str
    """Source run in the sandbox: steps replaced by proxies, step-only imports pruned."""
    step_bundle: str
    """The source unchanged plus a footer wrapping workflows in stubs."""
    workflows: list[WorkflowInfo]
    """Workflows, in source order."""
    steps: list[StepInfo]
    """Steps, in source order."""
    pruned_imports: list[str]
    """Sorted dotted names of imports removed from the workflow bundle."""
    diagnostics: list[Diagnostic]
    """Errors and warnings, sorted by position."""
    sha256: str
    """Hex SHA-256 of the source (UTF-8)."""
    has_directives: bool
    """Whether any workflow or step was found."""

    @property
    def ok(self) -> bool:
        """True when no diagnostic is an error."""
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that fail the build."""
        return [d for d in self.diagnostics if d.is_error]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the on-disk cache)."""
        return {
            "module": self.module,
            "relpath": self.relpath,
            "workflow_bundle": self.workflow_bundle,
            "step_bundle": self.step_bundle,
            "workflows": [w.to_dict() for w in self.workflows],
            "steps": [s.to_dict() for s in self.steps],
            "pruned_imports": list(self.pruned_imports),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "sha256": self.sha256,
            "has_directives": self.has_directives,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleResult:
        """The inverse of :meth:`to_dict`."""
        return cls(
            module=data["module"],
            relpath=data["relpath"],
            workflow_bundle=data["workflow_bundle"],
            step_bundle=data["step_bundle"],
            workflows=[WorkflowInfo.from_dict(w) for w in data["workflows"]],
            steps=[StepInfo.from_dict(s) for s in data["steps"]],
            pruned_imports=list(data["pruned_imports"]),
            diagnostics=[Diagnostic.from_dict(d) for d in data["diagnostics"]],
            sha256=data["sha256"],
            has_directives=bool(data["has_directives"]),
        )


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What :func:`wdk.compiler.build_tree` produced."""

    manifest: dict[str, Any]
    """The manifest (also written as ``manifest.json``)."""
    modules: dict[str, ModuleResult] = field(default_factory=dict)
    """Per-file results keyed by relpath."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Every file's diagnostics, sorted by file and position."""
    written: bool = False
    """Whether bundles and the manifest were written."""

    @property
    def ok(self) -> bool:
        """True when no diagnostic is an error."""
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that fail the build."""
        return [d for d in self.diagnostics if d.is_error]
