"""``compile_source``: one module's source to bundles, infos and diagnostics.

Two trees, each for what it is best at. ``ast`` (CPython's C parser, ~15 ms for 1,000 lines)
gives every check its exact line and column for free; libcst (lossless) rewrites the workflow
bundle, so everything the rewrite does not touch prints back byte for byte. libcst's parser
is ~10x slower than ``ast``'s and its PositionProvider costs more than its parse, so libcst
parses only the statements it rewrites, the trees are matched by order (``_cst.py``) and line
numbers are kept by construction (``_workflow_bundle.py``). Measured numbers are in
docs/compiler.md and docs/benchmarks.md.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable

from wdk.compiler._checks import (
    check_duplicates,
    check_module_level,
    check_patch_names,
    check_step_calls,
)
from wdk.compiler._closures import FunctionTables, captures_of, nonlocal_violations
from wdk.compiler._diagnostics import Diagnostic
from wdk.compiler._directives import Site, discover
from wdk.compiler._ids import step_id, workflow_id
from wdk.compiler._imports import Pruning, plan_pruning
from wdk.compiler._model import ModuleResult, StepInfo, WorkflowInfo
from wdk.compiler._step_bundle import render_step_bundle
from wdk.compiler._stubs import plan_stub, stub_call
from wdk.compiler._text import SourceText
from wdk.compiler._usage import collect_usage, postponed_annotations, signature_names

__all__ = ["compile_source", "compile_text", "maybe_has_directives"]

# Cheap pre-filter: a file that cannot contain a directive (or a near miss) skips parsing.
_MAYBE = re.compile(r"[uU][sS][eE]\s+(?:[sS][tT][eE][pP]|[wW][oO][rR][kK][fF][lL][oO][wW])")


def maybe_has_directives(source: str) -> bool:
    """False when ``source`` certainly has no directive (nothing to compile)."""
    return _MAYBE.search(source) is not None


def compile_source(source: str, *, relpath: str, module: str) -> ModuleResult:
    """Compile one module's source.

    Args:
        source: The module's text.
        relpath: Its path relative to the source root (``app/orders.py``), used in IDs.
        module: Its dotted name (``app.orders``).

    Returns:
        The bundles, workflows, steps, pruned imports and diagnostics. Never raises for
        problems in the source: they are diagnostics (``result.ok`` is False on errors).
    """
    return compile_text(
        source, relpath=relpath, module=module, sha256=hashlib.sha256(source.encode()).hexdigest()
    )


def _plain(
    source: str, relpath: str, module: str, sha256: str, diagnostics: list[Diagnostic]
) -> ModuleResult:
    return ModuleResult(
        module=module,
        relpath=relpath,
        workflow_bundle=source,
        step_bundle=source,
        workflows=[],
        steps=[],
        pruned_imports=[],
        diagnostics=sorted(diagnostics, key=_order),
        sha256=sha256,
        has_directives=False,
    )


def _order(d: Diagnostic) -> tuple[int, int, str]:
    return (d.line, d.col, d.code)


def compile_text(source: str, *, relpath: str, module: str, sha256: str) -> ModuleResult:
    """:func:`compile_source` with the content hash already known (the cache computes it)."""
    if not maybe_has_directives(source):
        return _plain(source, relpath, module, sha256, [])
    text = SourceText(source)
    try:
        tree = ast.parse(source, filename=relpath)
    except SyntaxError as exc:
        diag = Diagnostic(
            code="WDK010",
            message=f"syntax error: {exc.msg}",
            file=relpath,
            line=exc.lineno or 1,
            col=exc.offset or 1,
            fix="Fix the syntax error; wdk compiles only valid Python.",
        )
        return _plain(source, relpath, module, sha256, [diag])

    found = discover(tree, text, relpath)
    diagnostics = found.diagnostics

    def report(code: str, node: ast.AST, message: str, fix: str, *, warning: bool = False) -> None:
        line = getattr(node, "lineno", 1)
        diagnostics.append(
            Diagnostic(
                code=code,
                message=message,
                file=relpath,
                line=line,
                col=text.col(line, getattr(node, "col_offset", 0)),
                severity="warning" if warning else "error",
                fix=fix,
            )
        )

    sites = check_duplicates(found.sites, relpath, report)
    if not sites:
        return _plain(source, relpath, module, sha256, diagnostics)

    usage = collect_usage(tree, found.sites, len(text.lines))
    outer = _outermost_steps(sites)
    lazy = postponed_annotations(tree)
    plans = {id(site): plan_stub(site, text) for site in outer}
    # A stub keeps its signature, which the sandbox evaluates on import: its names stay.
    baseline = plan_pruning(tree, usage)
    signature_users: dict[str, list[str]] = {}
    for site in outer:
        if plans[id(site)].signature:
            for name in signature_names(site.node, annotations=not lazy):
                signature_users.setdefault(name, []).append(site.qualname)
    usage.outside_names |= signature_users.keys()
    tables = FunctionTables(source, relpath)
    captures: dict[int, tuple[str, ...]] = {
        id(s): captures_of(s, tables) for s in sites if s.nested and s.kind == "step"
    }
    for node, site, names in nonlocal_violations(
        usage.step_nonlocals, found.sites, found.functions, tables
    ):
        report(
            "WDK005",
            node,
            f"`nonlocal {', '.join(names)}` in step {site.qualname}: a step cannot write "
            "its caller's variables (it runs elsewhere, possibly in another process)",
            "Return the new value from the step and assign it in the caller.",
        )
    check_step_calls(usage, found.sites, report)
    check_patch_names(tree, usage, report)
    settings = check_module_level(tree, sites, report)
    pruning = plan_pruning(tree, usage)
    _warn_kept_for_signatures(baseline, pruning, signature_users, report)

    workflows: list[WorkflowInfo] = []
    steps: list[StepInfo] = []
    ids: dict[int, str] = {}
    for site in sites:
        if site.kind == "workflow":
            ident = workflow_id(relpath, site.qualname)
            workflows.append(WorkflowInfo(ident, module, site.qualname, relpath, site.node.lineno))
        else:
            ident = step_id(relpath, site.qualname)
            steps.append(_step_info(site, ident, module, relpath, captures, settings))
        ids[id(site)] = ident
    workflow_bundle = source
    if outer or pruning:
        stubs = [
            (site, plans[id(site)], stub_call(site, ids[id(site)], captures.get(id(site), ())))
            for site in outer
        ]
        # Imported here: libcst takes ~150 ms to import, and a process that only loads
        # cached results (a warm build, a worker) or modules without steps never needs it.
        from wdk.compiler._workflow_bundle import render_workflow_bundle

        workflow_bundle = render_workflow_bundle(text, tree, found.functions, stubs, pruning)
    return ModuleResult(
        module=module,
        relpath=relpath,
        workflow_bundle=workflow_bundle,
        step_bundle=render_step_bundle(source, workflows),
        workflows=workflows,
        steps=steps,
        pruned_imports=sorted({name for plan in pruning for name in plan.pruned}),
        diagnostics=sorted(diagnostics, key=_order),
        sha256=sha256,
        has_directives=True,
    )


_TYPING_MODULES = frozenset({"typing", "typing_extensions"})


def _warn_kept_for_signatures(
    baseline: list[Pruning],
    pruning: list[Pruning],
    users: dict[str, list[str]],
    report: Callable[..., None],
) -> None:
    """WDK104 for each import a step's signature keeps in the workflow bundle.

    Before stubs kept their signatures these imports were pruned; kept, they are imported in
    the sandbox, which may refuse them (``httpx``), so say why and how to prune them again.
    """
    pruned = {name for plan in pruning for name in plan.pruned}
    for plan in baseline:
        kept = [
            (name, alias)
            for name, alias in zip(plan.pruned, plan.pruned_aliases(), strict=True)
            if name not in pruned
        ]
        for name, bound in kept:
            if name.split(".")[0] in _TYPING_MODULES or name.startswith("collections.abc"):
                continue  # typing names cost nothing to keep and every sandbox has them
            steps = ", ".join(f"{q}()" for q in sorted(set(users.get(bound, []))))
            report(
                "WDK104",
                plan.node,
                f"`{name}` stays imported in the workflow bundle: the signature of step "
                f"{steps} uses it, and a step stub keeps its signature, evaluated when the "
                "sandbox imports the module",
                "Add `from __future__ import annotations` (for annotations) or move the "
                "default into the step's body, so the import is pruned again.",
                warning=True,
            )


def _outermost_steps(sites: list[Site]) -> list[Site]:
    """Steps not inside another step (an inner one goes away with its outer step's body)."""
    steps = [s for s in sites if s.kind == "step"]
    return [
        s
        for s in steps
        if not any(o is not s and o.start <= s.start and s.end <= o.end for o in steps)
    ]


def _step_info(
    site: Site,
    ident: str,
    module: str,
    relpath: str,
    captures: dict[int, tuple[str, ...]],
    settings: dict[str, dict[str, int | float]],
) -> StepInfo:
    own = settings.get(site.qualname, {})
    retries, delay = own.get("max_retries"), own.get("max_delay")
    return StepInfo(
        id=ident,
        module=module,
        qualname=site.qualname,
        file=relpath,
        line=site.node.lineno,
        kind="async" if isinstance(site.node, ast.AsyncFunctionDef) else "sync",
        captures=captures.get(id(site), ()),
        bind=site.bind,
        max_retries=int(retries) if retries is not None else None,
        max_delay=float(delay) if delay is not None else None,
    )
