"""The package graph reads top to bottom: one direction of dependency, no cycles, small modules.

Every import under ``src/wdk`` counts, imports inside functions included (an import hidden in
a function is still a dependency); only ``if TYPE_CHECKING:`` blocks are left out. Each unit
(a package under ``wdk``, or a top-level module) has a layer; a unit may import its own layer's
units and lower ones, never a higher one, and units of one layer never import each other in a
cycle. docs/internals.md draws the same picture.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "wdk"
MAX_LINES = 800

#: lowest first; a unit may import units of its own layer and the layers before it
LAYERS: list[set[str]] = [
    {"errors", "_duration", "serde", "_ids", "_http", "_context"},  # base
    {"worlds"},
    {"compiler", "sandbox"},
    {"runtime"},
    {"_webhooks"},  # hooks and webhooks in workflow code
    {"_delivery"},  # delivering to hooks from outside (client and server)
    {"_workflow_api"},  # what `from wdk import ...` gives workflow code
    {"api"},  # the client
    {"server", "ai"},  # ai builds on server, never the reverse (no cycle in a layer)
    {"cli", "testing"},
    {"wdk"},  # the package's own __init__: re-exports
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "wdk":
        return None
    return parts[1] if len(parts) > 1 else "wdk"


def _is_module(dotted: str) -> bool:
    base = SRC / dotted.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import in the file, TYPE_CHECKING aside."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.orelse:
                    visit_one(stmt)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if _is_module(sub) else target, node.lineno))
        visit(node)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        source = _unit(_module_name(path))
        for target, line in _imports(path):
            unit = _unit(target)
            if source and unit and unit != source:
                edges[(source, unit)].append(f"{path.relative_to(SRC)}:{line} imports {target}")
    return edges


def _cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in ROOT.rglob("*.py")}
    missing = sorted(u for u in units if u is not None and u not in RANK)
    assert not missing, f"give these units a layer in LAYERS (and docs/internals.md): {missing}"


def test_imports_only_go_down_the_layers() -> None:
    upward = [
        f"{source} (layer {RANK[source]}) -> {target} (layer {RANK[target]}): {where[0]}"
        for (source, target), where in sorted(_edges().items())
        if source in RANK and target in RANK and RANK[target] > RANK[source]
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_cycle_between_units() -> None:
    edges = _edges()
    cycles = _cycles(edges)
    described = [
        " -> ".join(cycle)
        + "\n    "
        + "\n    ".join(edges[(a, b)][0] for a, b in zip(cycle, cycle[1:], strict=False))
        for cycle in cycles
    ]
    assert not cycles, "import cycles between packages:\n" + "\n".join(described)


def test_no_module_is_over_800_lines() -> None:
    long = sorted(
        f"{p.relative_to(SRC)}: {n} lines"
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    )
    assert not long, f"split these along their seams (at most {MAX_LINES} lines):\n" + "\n".join(
        long
    )


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    """The analysis itself: a function-level import counts, a TYPE_CHECKING one does not."""
    global SRC
    fake = tmp_path / "src" / "wdk"
    (fake / "worlds").mkdir(parents=True)
    (fake / "api").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "api" / "__init__.py").write_text("")
    (fake / "worlds" / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import wdk.api\n"
        "def f():\n    from wdk.api import thing\n"
    )
    saved = SRC
    SRC = tmp_path / "src"
    try:
        found = _imports(fake / "worlds" / "__init__.py")
    finally:
        SRC = saved
    assert [line for target, line in found if target.startswith("wdk.api")] == [5]
