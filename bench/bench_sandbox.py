"""Sandbox overhead: a CPU-bound workflow body vs plain Python, and per-run setup.

Run: ``.venv/bin/python bench/bench_sandbox.py`` (writes its section of docs/benchmarks.md).
"""

from __future__ import annotations

import random
import sys
import tempfile
import textwrap
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

from wdk import _context  # noqa: E402
from wdk.sandbox import BundleSource, SandboxConfig, WorkflowSandbox  # noqa: E402

BODY = """
import math

class Item:
    def __init__(self, sku, price, qty):
        self.sku = sku
        self.price = price
        self.qty = qty

    def total(self):
        return self.price * self.qty

def crunch(n):
    items = [Item(f"s{i % 50}", 1.5 + i % 7, i % 5) for i in range(200)]
    by_sku = {}
    stats = {"count": 0, "max": 0.0}
    for rnd in range(n):
        for it in items:
            t = it.total()
            by_sku[it.sku] = by_sku.get(it.sku, 0.0) + t
            stats["count"] += 1
            if t > stats["max"]:
                stats["max"] = t
            it.qty = (it.qty + 1) % 5
        keys = sorted(by_sku)
        stats["top"] = max(keys, key=lambda k: by_sku[k])
        stats["norm"] = math.sqrt(sum(v * v for v in by_sku.values()))
    return stats
"""


class _Ctx:
    run_id = "wrun_bench"
    workflow_id = "workflow//bench.py//wf"
    started_at = 0.0
    random = random.Random(1)

    def now(self) -> float:
        return 0.0

    def log(self, text: str) -> None:
        pass

    def schedule(self, command: Any) -> Any:
        raise NotImplementedError


def _module_200_lines() -> str:
    parts = ["import json, math, dataclasses\nfrom enum import Enum\n"]
    for i in range(12):
        parts.append(
            textwrap.dedent(
                f"""
                class Model{i}:
                    def __init__(self, a, b):
                        self.a = a
                        self.b = b

                    def total(self):
                        return self.a + self.b

                async def step_like_{i}(x, y=1):
                    if x > {i}:
                        return x * y
                    return json.dumps({{"x": x, "i": {i}}})
                """
            )
        )
    src = "".join(parts)
    src += "\nasync def wf(x):\n    return Model0(x, 1).total()\n"
    lines = src.count("\n")
    return src + "\n" * max(0, 200 - lines)


def _best(fn: Any, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    token = _context.use(_Ctx())
    try:
        tmp = Path(tempfile.mkdtemp())
        results = []
        plain_ns: dict[str, Any] = {}
        exec(compile(BODY, str(tmp / "plain.py"), "exec"), plain_ns)
        plain = _best(lambda: plain_ns["crunch"](20), 5)
        for label, config in (
            ("default", SandboxConfig().with_cache_dir(tmp / "c")),
            (
                "guard_all_attributes",
                SandboxConfig().with_cache_dir(tmp / "c").with_guard_all_attributes(),
            ),
        ):
            src = BundleSource(BODY, str(tmp / f"bench_{label}.py"))
            mod = WorkflowSandbox({"b": src}.get, config=config).import_module("b")
            assert mod.crunch(3) == plain_ns["crunch"](3)
            sandboxed = _best(lambda m=mod: m.crunch(20), 5)
            results.append((label, sandboxed, sandboxed / plain))

        module_src = BundleSource(_module_200_lines(), str(tmp / "mod200.py"))
        cfg = SandboxConfig().with_cache_dir(tmp / "c")
        WorkflowSandbox({"m": module_src}.get, config=cfg).import_module("m")  # warm the cache

        def setup() -> None:
            WorkflowSandbox({"m": module_src}.get, config=cfg).import_module("m")

        per_run = _best(setup, 2000)
    finally:
        _context._current.reset(token)

    lines = [
        "## Sandbox overhead",
        "",
        f"`bench/bench_sandbox.py` on {machine()}. Best of 7.",
        "",
        "CPU-bound workflow body (200 objects x 20 rounds: method calls, attribute reads and",
        "writes, dict get/set, augmented item assignment, sorted/max/sum). The sandbox rows",
        "include the limits' checks and guards (docs/sandbox.md, \"Limits\"): a budget check",
        "per loop iteration and a `_mul_` guard call per `price * qty`.",
        "",
        "| mode | time per call | vs plain Python (target <= 2x) |",
        "|---|---|---|",
        f"| plain Python | {plain * 1e3:.2f} ms | 1.00x |",
    ]
    for label, t, ratio in results:
        lines.append(f"| sandbox, {label} | {t * 1e3:.2f} ms | {ratio:.2f}x |")
    lines += [
        "",
        "Per-run setup: `WorkflowSandbox(...)` + `import_module` of a 200-line module (12 classes,",
        "12 async functions) whose restricted code is cached:",
        f"**{per_run * 1e6:.1f} us** per run (target < 100 us).",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("sandbox", text)


if __name__ == "__main__":
    main()
