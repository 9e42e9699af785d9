"""CLI start-up: wall time of ``wdk run`` of a one-step workflow, and of ``import wdk``.

Each command is a fresh process, timed from spawn to exit; the median of ``--runs`` runs
(default 20), with the commands interleaved so a change in the machine's load hits them alike.
The project is a temporary directory holding one workflow with one step, on the default SQLite
world (``.wdk/wdk.db``), the compile cache warm. Python's bytecode cache is on (in a temporary
``PYTHONPYCACHEPREFIX``), as for an installed package, whatever ``PYTHONDONTWRITEBYTECODE``
says.

``--compare SRC`` also times the source tree at ``SRC`` (e.g. the main branch's ``src``) the
same way, for a before/after table. Run:
``.venv/bin/python bench/bench_cli.py [--runs N] [--compare /path/to/other/src]``; writes its
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

WDK = str(Path(sys.executable).with_name("wdk"))
SRC = Path(__file__).resolve().parents[1] / "src"

FLOW = """async def hello(name: str) -> str:
    "use workflow"
    return await greet(name)


async def greet(name: str) -> str:
    "use step"
    return "hello " + name
"""

#: label -> (command, extra environment)
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass (the floor)": ([sys.executable, "-c", "pass"], {}),
    "python -c 'import wdk'": ([sys.executable, "-c", "import wdk"], {}),
    "wdk --help": ([WDK, "--help"], {}),
    "wdk run one:hello (hash seed unset: re-execs once)": (
        [WDK, "run", "-q", "one:hello", '"x"'],
        {},
    ),
    "wdk run one:hello (PYTHONHASHSEED=0: no re-exec)": (
        [WDK, "run", "-q", "one:hello", '"x"'],
        {"PYTHONHASHSEED": "0"},
    ),
}


def once(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawn to exit of one run of ``cmd`` (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return elapsed


def _revision(src: Path) -> str:
    """The short commit of the checkout holding ``src`` (or its path when not a checkout)."""
    proc = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else str(src)


def measure(trees: dict[str, Path], runs: int) -> dict[tuple[str, str], list[float]]:
    """``(tree, command) -> wall times``, every command of every tree run ``runs`` times."""
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="wdk-bench-cli-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "one.py").write_text(FLOW)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "WDK_"))}
        base["WDK_CACHE_DIR"] = str(Path(tmp) / "compile-cache")
        envs = {
            tree: {
                **base,
                "PYTHONPATH": str(src),
                "PYTHONPYCACHEPREFIX": str(Path(tmp) / f"pyc-{i}"),
            }
            for i, (tree, src) in enumerate(trees.items())
        }
        for round_ in range(runs + 2):  # two warm-up rounds: bytecode and compile caches
            for tree in trees:
                for label, (cmd, extra) in COMMANDS.items():
                    elapsed = once(cmd, {**envs[tree], **extra}, project)
                    if round_ >= 2:
                        times.setdefault((tree, label), []).append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--compare", type=Path, help="another source tree, timed as 'before'")
    args = parser.parse_args()
    trees = {"this tree": SRC}
    if args.compare:
        trees = {"before": args.compare.resolve(), "after": SRC}
    revs = {tree: _revision(src) for tree, src in trees.items()}
    load = os.getloadavg()[0]
    times = measure(trees, args.runs)
    load = max(load, os.getloadavg()[0])
    header = "| command | " + " | ".join(f"{t} ({revs[t]}) ms" for t in trees) + " |"
    lines = [header, "|---|" + "---|" * len(trees)]
    for label in COMMANDS:
        cells = []
        for tree in trees:
            ms = [t * 1000 for t in times[(tree, label)]]
            cells.append(f"**{statistics.median(ms):.0f}** ({min(ms):.0f}-{max(ms):.0f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for tree, label in times:
        print(tree, label, f"{statistics.median(times[(tree, label)]) * 1000:.0f} ms")
    write_section(
        "cli",
        f"""## CLI start-up: `wdk run` of a one-step workflow

`bench/bench_cli.py`: wall time from spawn to exit of fresh processes, median of {args.runs}
runs each (min-max in brackets), commands interleaved; a temporary project with one workflow
of one step on the default SQLite world, compile cache and bytecode cache warm. Measured on
{machine()}, **shared with other jobs** (load average up to {load:.1f}
during the run), so single runs vary by tens of milliseconds; compare the medians. Cells:
median (min-max).

{chr(10).join(lines)}

`wdk run` without `PYTHONHASHSEED` re-executes itself once with the seed fixed
(docs/sandbox.md); it does so before importing click or the command (~20 ms for the first
process). The rest, read with `python -X importtime` and the children's CPU time: the
interpreter ~11 ms, click ~30 ms, the world, worker, sandbox and anyio/asyncio ~110 ms of
imports, the run itself (open the SQLite file, start, one step, two commits) ~30 ms.
""",
    )


if __name__ == "__main__":
    main()
