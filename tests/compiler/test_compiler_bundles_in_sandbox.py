"""Every fixture's generated workflow bundle compiles and imports under the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from wdk.compiler import build_tree
from wdk.runtime import step_decorator
from wdk.sandbox import BundleSource, WorkflowSandbox, compile_workflow_code

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compiler"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith("err_"))


@pytest.mark.parametrize("case", CASES)
def test_workflow_bundles_compile_and_import_in_the_sandbox(case: str, tmp_path: Path) -> None:
    src = FIXTURES / case / "src"
    result = build_tree(src, None, check=True, cache_dir=tmp_path / "cache")
    assert result.ok, result.diagnostics
    assert result.modules, f"{case} produced no modules"
    bundles = {
        mod.module: BundleSource(mod.workflow_bundle, str(src / relpath))
        for relpath, mod in result.modules.items()
    }
    with_directives = [m.module for m in result.modules.values() if m.has_directives]
    assert with_directives
    for module in with_directives:
        bundle = bundles[module]
        code = compile_workflow_code(bundle.source, bundle.filename)
        assert code.co_filename == bundle.filename
        sandbox = WorkflowSandbox(bundles.get, injected={"__wdk_step__": step_decorator})
        assert sandbox.import_module(module).__name__ == module
