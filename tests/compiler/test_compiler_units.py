"""Small inline cases: directive forms, IDs, diagnostics format, no-directive files."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wdk.compiler import (
    Diagnostic,
    compile_source,
    module_relpath,
    step_id,
    workflow_id,
)


def _steps(source: str) -> list[str]:
    return [s.qualname for s in compile_source(source, relpath="m.py", module="m").steps]


@pytest.mark.parametrize(
    ("literal", "is_step"),
    [
        ('"use step"', True),
        ("'use step'", True),
        ('"""use step"""', True),
        ("'''use step'''", True),
        ('f"use step"', False),
        ('b"use step"', False),
        ('u"use step"', False),
        ('("use step")', False),
        ('"use " "step"', False),
        ('"use step "', False),
        ('"""\nuse step\n"""', False),
    ],
)
def test_directive_literal_forms(literal: str, is_step: bool) -> None:
    assert _steps(f"def f():\n    {literal}\n    return 1\n") == (["f"] if is_step else [])


def test_later_string_is_not_a_directive() -> None:
    result = compile_source('def f():\n    x = 1\n    "use step"\n', relpath="m.py", module="m")
    assert not result.has_directives
    assert [d.code for d in result.diagnostics] == ["WDK103"]
    assert result.ok


@given(st.text(max_size=20))
def test_only_exact_text_is_a_directive(text: str) -> None:
    source = f"def f():\n    {text!r}\n"
    expected = ["f"] if text == "use step" else []
    assert _steps(source) == expected


def test_file_without_directives_is_unchanged() -> None:
    source = "import os\nprint(os.getcwd())\n"
    result = compile_source(source, relpath="plain.py", module="plain")
    assert not result.has_directives and result.ok
    assert result.workflow_bundle == result.step_bundle == source
    assert result.workflows == [] and result.steps == [] and result.diagnostics == []


def test_ids_and_relpaths() -> None:
    assert module_relpath("app.orders", False) == "app/orders.py"
    assert module_relpath("app", True) == "app/__init__.py"
    assert workflow_id("app/orders.py", "process") == "workflow//app/orders.py//process"
    assert step_id("orders.py", "Cart#total") == "step//orders.py//Cart#total"


def test_ids_are_stable_across_compiles() -> None:
    source = "async def wf():\n    'use workflow'\n\n    def s():\n        'use step'\n"
    first = compile_source(source, relpath="a/b.py", module="a.b")
    second = compile_source(source, relpath="a/b.py", module="a.b")
    assert first == second
    assert [s.id for s in first.steps] == ["step//a/b.py//wf/s"]


def test_diagnostic_text() -> None:
    diag = Diagnostic("WDK001", "bad", "x.py", 3, 5, fix="Do this.")
    assert str(diag) == "x.py:3:5: error[WDK001]: bad\n  help: Do this."
    assert Diagnostic.from_dict(diag.to_dict()) == diag


def test_columns_count_characters_not_bytes() -> None:
    source = (
        'async def wf():\n    "use workflow"\n    x = 1\n'
        '    async def s():\n        "use step"\n        ü = 0; nonlocal x\n'
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert [(d.code, d.line, d.col) for d in result.errors] == [("WDK005", 6, 16)]


def test_one_line_step_keeps_line_count() -> None:
    source = "def f(x): 'use step'; return x\nprint(1)\n"
    result = compile_source(source, relpath="m.py", module="m")
    assert result.workflow_bundle.splitlines()[0] == 'f = __wdk_step__("step//m.py//f")(None)'
    assert [d.code for d in result.errors] == ["WDK007"]


def test_crlf_line_endings_are_kept() -> None:
    source = "import json\r\n\r\ndef f():\r\n    'use step'\r\n    return json.dumps(1)\r\n"
    result = compile_source(source, relpath="m.py", module="m")
    assert result.workflow_bundle.count("\r\n") == source.count("\r\n")
    assert result.pruned_imports == ["json"]
    ast.parse(result.workflow_bundle)


def test_step_signature_is_kept_and_its_names_stay_imported() -> None:
    source = (
        "from decimal import Decimal\n\n"
        "def f(a: Decimal = Decimal(1), /, b=2, *args, c: int = 3, **kw) -> Decimal:\n"
        "    'use step'\n    return a\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    # The stub's defaults and annotations run in the sandbox: Decimal must stay imported.
    assert result.pruned_imports == []
    assert result.workflow_bundle.splitlines() == [
        "from decimal import Decimal",
        "",
        "def f(a: Decimal = Decimal(1), /, b=2, *args, c: int = 3, **kw) -> Decimal:",
        "    'use step'",
        'f = __wdk_step__("step//m.py//f")(f)',
    ]


def test_postponed_annotations_do_not_keep_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "from decimal import Decimal\n\n"
        "def f(a: Decimal, b: int = 2) -> Decimal:\n"
        "    'use step'\n    return a\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.pruned_imports == ["decimal.Decimal"]
    assert result.workflow_bundle.splitlines()[1] == "pass"
    assert "def f(a: Decimal, b: int = 2) -> Decimal:" in result.workflow_bundle


def test_import_used_outside_steps_is_kept() -> None:
    source = (
        "import json\nimport os\n\nDEFAULT = json\n\n"
        "def f():\n    'use step'\n    return json.dumps(os.sep)\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.pruned_imports == ["os"]
    assert result.workflow_bundle.splitlines()[:2] == ["import json", "pass"]


def test_semicolon_shared_import_line_is_not_pruned() -> None:
    source = "import os; import sys\n\ndef f():\n    'use step'\n    return os.sep\n"
    result = compile_source(source, relpath="m.py", module="m")
    assert result.pruned_imports == []


def test_workflow_module_docstring_makes_async_defs_workflows() -> None:
    source = (
        '"use workflow"\n\nasync def f(): pass\n\n'
        "def g():\n    'use step'\n    return 1\n\n"
        "class C:\n    async def m(self): pass\n\n"
        "async def h():\n    async def inner(): pass\n    return 1\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.ok and result.diagnostics == []
    assert [w.qualname for w in result.workflows] == ["f", "h"]
    assert [s.qualname for s in result.steps] == ["g"]


def test_workflow_module_docstring_sync_def_is_wdk001() -> None:
    source = '"""use workflow"""\n\ndef helper():\n    return 1\n'
    result = compile_source(source, relpath="m.py", module="m")
    assert [(d.code, d.line) for d in result.diagnostics] == [("WDK001", 3)]
    assert not result.ok


def test_directive_in_function_under_if_block_is_module_level() -> None:
    source = "import sys\nif sys.version_info >= (3, 11):\n    def f():\n        'use step'\n"
    assert _steps(source) == ["f"]


def test_last_line_without_line_break_keeps_its_shape() -> None:
    source = "import json\n\ndef f(x: int = 1) -> str:\n    'use step'\n    return json.dumps(x)"
    result = compile_source(source, relpath="m.py", module="m")
    assert result.workflow_bundle == (
        "pass\n\ndef f(x: int = 1) -> str:\n    'use step'\nf = __wdk_step__(\"step//m.py//f\")(f)"
    )


def test_crlf_stub_keeps_crlf_line_endings() -> None:
    source = (
        "import json\r\n\r\n@deco\r\ndef f(x):\r\n    'use step'\r\n    return json.dumps(x)\r\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.workflow_bundle == (
        "pass\r\n\r\n@__wdk_step__(\"step//m.py//f\")\r\ndef f(x):\r\n    'use step'\r\n\r\n"
    )


def test_partly_pruned_backslash_import_keeps_its_lines() -> None:
    source = (
        "from os import sep, \\\n    path\n\nX = sep\n\n"
        "def f():\n    'use step'\n    return path.join('a')\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.pruned_imports == ["os.path"]
    assert result.workflow_bundle.splitlines()[:3] == ["from os import sep", "", ""]


def test_fully_pruned_multiline_import_keeps_its_comments() -> None:
    source = (
        "from decimal import (  # money\n    Decimal,  # the type\n)\n\n"
        "def f():\n    'use step'\n    return Decimal(1)\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.workflow_bundle.splitlines()[:3] == ["pass  # money", "    # the type", ""]


def test_step_bundle_is_unchanged_by_the_rewrite() -> None:
    source = (
        "@deco\nasync def f(x: int = 1) -> int:\n    'use step'\n    # note\n    return x\n\n"
        "async def wf():\n    'use workflow'\n    return await f()\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.step_bundle.startswith(source)
    assert result.step_bundle[len(source) :].startswith("# --- wdk step bundle (generated) ---")


def test_import_kept_for_a_step_signature_is_wdk104() -> None:
    source = (
        "import httpx\nfrom typing import Any\n\n"
        "async def get(client: httpx.AsyncClient, x: Any = None) -> str:\n"
        "    'use step'\n    return 'x'\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert result.ok and result.pruned_imports == []
    assert [(d.code, d.line, d.severity) for d in result.diagnostics] == [("WDK104", 1, "warning")]
    assert "get()" in result.diagnostics[0].message
    lazy = compile_source(
        "from __future__ import annotations\n" + source, relpath="m.py", module="m"
    )
    assert lazy.diagnostics == [] and lazy.pruned_imports == ["httpx", "typing.Any"]


def test_step_limits_are_literal_settings_checked_at_build() -> None:
    good = (
        'def charge(x):\n    "use step"\n\n'
        "charge.concurrency = 5\n"
        'charge.rate = "10/s"\n'
        "charge.max_retries = 0\n"
    )
    assert not compile_source(good, relpath="m.py", module="m").errors
    bad = (
        'def charge(x):\n    "use step"\n\n'
        "charge.concurrency = 0\n"
        'charge.rate = "10 per sec"\n'
        "charge.rate = RATE\n"
        "plain.concurrency = 2\n"
    )
    errors = compile_source(bad, relpath="m.py", module="m").errors
    assert [(d.code, d.line) for d in errors] == [
        ("WDK009", 4),
        ("WDK009", 5),
        ("WDK009", 6),
        ("WDK009", 7),
    ]
    assert "`charge.concurrency` must be set to an integer literal >= 1" in errors[0].message
    assert "invalid rate '10 per sec'" in errors[1].message
    assert "plain is not a step of this module" in errors[3].message


@pytest.mark.parametrize(
    ("statement", "codes"),
    [
        ('schedule("n", cron="0 3 * * *", workflow=wf, args=["daily"])', []),
        ('wdk.schedule("n", every="2s", workflow=wf)', []),
        ('schedule("n", every=compute(), workflow=wf)', ["WDK007"]),  # its arguments do work
        ("define_hook(dict)", ["WDK007"]),  # a bare call of another wdk name: still work
    ],
)
def test_a_bare_schedule_call_is_the_one_wdk_call_allowed_as_a_statement(
    statement: str, codes: list[str]
) -> None:
    source = (
        "import wdk\nfrom wdk import define_hook, schedule\n\n"
        'async def wf():\n    "use workflow"\n\n'
        "def compute():\n    return 2\n\n" + statement + "\n"
    )
    result = compile_source(source, relpath="m.py", module="m")
    assert [d.code for d in result.errors] == codes
