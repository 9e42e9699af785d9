"""Compiler speed: cold build of a 1000-line module, warm rebuild of a 200-file tree.

Targets (issues 3 and 21): cold < 300 ms for a generated 1000-line module with 100 directive
functions; warm (cached, content hashes unchanged) rebuild of a 200-file tree < 200 ms. The
parts are measured on the same module: ``ast.parse`` and ``symtable`` (what the checks and
closures use), libcst's native parser on the whole module and on the segments the rewrite
parses, and the libcst metadata providers the compiler does without (PositionProvider,
ScopeProvider).
Run: .venv/bin/python bench/bench_compiler.py
"""

from __future__ import annotations

import ast
import statistics
import symtable
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk.compiler import _cache, build_tree, compile_source  # noqa: E402


def generate_module(functions: int = 100, target_lines: int = 1000) -> str:
    """A module with ``functions`` directive functions (steps, nested steps, workflows)."""
    out = [
        '"""Generated."""',
        "import asyncio",
        "import hashlib",
        "import json",
        "from decimal import Decimal",
        "",
        "from wdk import sleep",
        "",
    ]
    per = max(1, (target_lines - len(out)) // functions)
    for i in range(functions):
        block: list[str]
        if i % 10 == 0:
            block = [
                f"async def flow_{i}(items: list[int], factor: int) -> list[int]:",
                '    "use workflow"',
                "    async def scale(x: int) -> int:",
                '        "use step"',
                "        return x * factor + offset",
                "    offset = 10",
                "    await sleep(1)",
                f"    total = await step_{i + 1}(len(items))",
                "    return [await scale(x) for x in items] + [total]",
            ]
        else:
            block = [
                f"def step_{i}(n: int) -> str:",
                '    "use step"',
                "    data = {'n': n, 'values': [v * 2 for v in range(n)]}",
                "    digest = hashlib.sha256(json.dumps(data).encode()).hexdigest()",
                "    amount = Decimal(n) / Decimal(3)",
            ]
        while len(block) < per - 1:
            block.append(f"    x{len(block)} = {len(block)} + len(str(n if 'n' in dir() else 0))")
        block.append("    return str(locals().get('digest', 0))")
        block.append("")
        out.extend(block)
    return "\n".join(out) + "\n"


def timed(fn: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _median(fn: object, repeat: int) -> str:
    samples = timed(fn, repeat)
    return f"{statistics.median(samples):.1f} ({min(samples):.1f})"


def _parts(source: str, import_ms: float) -> list[tuple[str, str]]:
    """Each piece of the compile, and the libcst alternatives it does without."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider, ScopeProvider

    from wdk.compiler._cst import parse_module
    from wdk.compiler._directives import discover
    from wdk.compiler._stubs import plan_stub
    from wdk.compiler._text import SourceText

    tree = ast.parse(source)
    text = SourceText(source)
    found = discover(tree, text, "big.py")
    segments: list[str] = []
    steps = [s for s in found.sites if s.kind == "step"]
    for stmt in tree.body:
        end = stmt.end_lineno or stmt.lineno
        site = next((s for s in steps if s.node is stmt), None)
        if site is None and not any(stmt.lineno <= s.start <= end for s in steps):
            continue
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        last = stmt.end_lineno or stmt.lineno
        if site is not None and plan_stub(site, text).head_only:
            last = plan_stub(site, text).free_first - 1
        segments.append("".join(text.lines[first - 1 : last]))
    module = cst.parse_module(source)
    once = time.perf_counter()
    MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
    scope_ms = (time.perf_counter() - once) * 1000
    return [
        ("`ast.parse` (checks, positions)", _median(lambda: ast.parse(source), 10)),
        ("`symtable` (closures)", _median(lambda: symtable.symtable(source, "big.py", "exec"), 10)),
        (
            f"libcst native parser, the {len(segments)} segments the rewrite parses (one call)",
            _median(lambda: parse_module("".join(segments)), 10),
        ),
        ("`import libcst` (once per process, only when a bundle is rewritten)", f"{import_ms:.0f}"),
        ("libcst native parser, whole module (not used)", _median(lambda: parse_module(source), 5)),
        ("libcst `Module.code`, whole module (not used)", _median(lambda: module.code, 5)),
        (
            "libcst PositionProvider, whole module (not used)",
            _median(
                lambda: MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider), 3
            ),
        ),
        ("libcst ScopeProvider, whole module (not used; one run)", f"{scope_ms:.0f}"),
    ]


def main() -> None:
    # wdk.compiler imports libcst on the first rewrite: time that import on its own.
    t0 = time.perf_counter()
    import libcst  # noqa: F401

    import_ms = (time.perf_counter() - t0) * 1000
    source = generate_module()
    lines = source.count("\n")
    result = compile_source(source, relpath="big.py", module="big")
    assert result.ok, result.diagnostics[:3]
    directive_count = len(result.steps) + len(result.workflows)
    cold = timed(lambda: compile_source(source, relpath="big.py", module="big"), 20)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src, out, cache = root / "src", root / "out", root / "cache"
        small = generate_module(functions=10, target_lines=100)
        for i in range(200):
            pkg = src / f"pkg{i // 20}"
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / f"mod{i}.py").write_text(small)
        t0 = time.perf_counter()
        first = build_tree(src, out, cache_dir=cache)
        tree_cold = (time.perf_counter() - t0) * 1000
        assert first.ok and len(first.modules) == 200

        def warm() -> None:
            _cache.clear_memory_cache()  # a new process: only the disk cache is warm
            build_tree(src, out, cache_dir=cache)

        warm_samples = timed(warm, 10)

    parts = _parts(source, import_ms)
    cold_med, warm_med = statistics.median(cold), statistics.median(warm_samples)
    rows = [
        (
            f"cold compile, 1 module: {lines} lines, {directive_count} directive functions",
            f"{cold_med:.1f} ({min(cold):.1f})",
            "< 300",
        ),
        ("cold build, 200-file tree (empty cache)", f"{tree_cold:.0f}", "-"),
        (
            "warm rebuild, 200-file tree (disk cache, fresh memory)",
            f"{warm_med:.1f} ({min(warm_samples):.1f})",
            "< 200",
        ),
    ]
    table = "\n".join(
        [
            "## Compiler",
            "",
            f"{machine()}. `bench/bench_compiler.py`; medians (min) in ms.",
            "",
            "| case | measured | target |",
            "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in rows),
            "",
            f"Parts, on the same {lines}-line module (a compile uses the first three, and the",
            "import once per process; see docs/compiler.md):",
            "",
            "| part | ms |",
            "|---|---|",
            *(f"| {a} | {b} |" for a, b in parts),
        ]
    )
    print(table)
    write_section("compiler", table)
    assert cold_med < 300 and warm_med < 200, "compiler targets missed"


if __name__ == "__main__":
    main()
