"""Compiler speed: cold build of a 1000-line module, warm rebuild of a 200-file tree.

Targets (issue 3): cold < 300 ms for a generated 1000-line module with 100 directive functions;
warm (cached, content hashes unchanged) rebuild of a 200-file tree < 200 ms.
Run: .venv/bin/python bench/bench_compiler.py
"""

from __future__ import annotations

import statistics
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


def main() -> None:
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
        ]
    )
    print(table)
    write_section("compiler", table)
    assert cold_med < 300 and warm_med < 200, "compiler targets missed"


if __name__ == "__main__":
    main()
