"""What importing wdk costs: which modules ``import wdk`` and the ``wdk`` commands pull in.

A CLI should feel instant (issue 23): ``import wdk`` loads its public names on first use, and
``wdk run`` of a workflow loads the world and the worker but never the server, the AI layer,
rich (unless stderr is a terminal), pydantic or the PostgreSQL driver. Each check runs in a fresh
interpreter (a real subprocess): this test process has imported everything already. How long
the imports take is measured in bench/bench_cli.py, not asserted here.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wdk
import wdk.compiler
import wdk.sandbox

#: never imported by `import wdk` nor on the `wdk run` path
HEAVY = ("starlette", "uvicorn", "pydantic_ai", "pydantic", "rich", "psycopg", "httpx", "libcst")

FLOW = textwrap.dedent(
    '''
    """A one-step workflow."""


    async def hello(name: str) -> str:
        "use workflow"
        return await greet(name)


    async def greet(name: str) -> str:
        "use step"
        return "hello " + name
    '''
)

# Runs the code it is given, then prints the names in sys.modules as JSON on the last line of
# stdout (also when the code exits: commands end with SystemExit).
_DUMP = textwrap.dedent(
    """
    import atexit, json, sys
    atexit.register(lambda: print("\\n" + json.dumps(sorted(sys.modules))))
    """
)


def modules_after(code: str, cwd: Path | None = None, **env: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    full = {**os.environ, "PYTHONHASHSEED": "0", **env}
    full.pop("WDK_WORLD", None)
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_import_wdk_loads_nothing_but_the_package():
    modules = modules_after("import wdk")
    assert heavy_in(modules) == []
    # Not even wdk's own world, worker or event loop: they load when a name needs them.
    assert sorted(m for m in modules if m.startswith("wdk.")) == []
    assert "asyncio" not in modules
    assert "anyio" not in modules


def test_a_name_loads_only_what_it_needs():
    modules = modules_after("from wdk import FatalError, RetryableError")
    assert "wdk.errors" in modules
    assert "wdk.runtime" not in modules
    assert "wdk.worlds" not in modules
    assert heavy_in(modules) == []


@pytest.mark.parametrize("name", wdk.__all__)
def test_every_public_name_is_the_defining_modules_object(name):
    value = getattr(wdk, name)
    module = sys.modules[wdk._LAZY[name]]
    assert getattr(module, name) is value
    assert name in dir(wdk)


def test_lazy_table_matches_the_type_checking_imports_and_all():
    """The table, the imports type checkers read and ``__all__`` name the same things."""
    for package in (wdk, wdk.sandbox, wdk.compiler):
        path = Path(package.__file__ or "")
        tree = ast.parse(path.read_text())
        block = next(
            n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
        )
        typed = {
            alias.name: stmt.module
            for stmt in block.body
            if isinstance(stmt, ast.ImportFrom)
            for alias in stmt.names
        }
        assert typed == package._LAZY, path
        assert sorted(package.__all__) == sorted(package._LAZY), path


def test_unknown_names_and_submodules():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = wdk.nope  # type: ignore[attr-defined]
    modules = modules_after("import wdk; assert wdk.errors.FatalError is wdk.FatalError")
    assert "wdk.errors" in modules


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["worker", "--help"]])
def test_help_loads_no_worker(args):
    modules = modules_after(
        f"""
        from wdk.cli import main
        main({args!r})
        """
    )
    # `wdk --help` loads every command's module (click asks each for its short help), so
    # rich (tables) and the server must be imported where they are used, not at the top.
    assert heavy_in(modules) == []
    assert "wdk.runtime" not in modules
    assert "wdk.server" not in modules
    if args != ["--help"]:
        assert "wdk.worlds" not in modules


def test_wdk_run_loads_no_server_ai_rich_pydantic_or_postgres(tmp_path):
    (tmp_path / "one.py").write_text(FLOW)
    code = """
        from wdk.cli import main
        main(["run", "one:hello", '"x"'])
    """
    env = {"WDK_CACHE_DIR": str(tmp_path / "cache")}
    cold = modules_after(code, cwd=tmp_path, **env)  # compiles the module (libcst)
    warm = modules_after(code, cwd=tmp_path, **env)  # the compile cache answers
    assert "wdk.runtime._worker" in warm  # the run did run here
    assert "wdk.worlds.sqlite" in warm
    assert heavy_in(cold - {m for m in cold if m.startswith("libcst")}) == []
    assert heavy_in(warm) == []
    # A warm compile cache answers without the compiler proper; no schedule, no cron parser.
    assert "wdk.compiler._compile" in cold
    assert "wdk.compiler._compile" not in warm
    assert "cronsim" not in warm


def test_run_re_executes_for_the_hash_seed_before_its_imports(tmp_path):
    """Without a fixed seed, ``wdk run`` re-execs having loaded only click and wdk.cli."""
    code = """
        import os, sys
        def execv(path, args):
            print(json.dumps({"args": args, "seed": os.environ.get("PYTHONHASHSEED")}))
            sys.exit(0)
        os.execv = execv
        from wdk.cli import main
        main(["run", "one:hello", '"x"'])
    """
    env = {**os.environ}
    env.pop("PYTHONHASHSEED", None)
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP + "import json\n" + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    execed = json.loads(lines[0])
    assert execed["seed"] == "0"
    assert execed["args"][0] == sys.executable
    modules = set(json.loads(lines[-1]))
    assert "wdk.cli._run" not in modules
    assert "wdk.runtime" not in modules
    assert "wdk.worlds" not in modules
    assert heavy_in(modules) == []


def test_the_wdk_script_re_executes_before_importing_click(tmp_path):
    """``wdk run ...`` as typed (the console script) re-execs before click is even imported."""
    code = """
        import json, os, sys
        sys.argv = [os.path.join(os.path.dirname(sys.executable), "wdk"), "run", "one:hello"]
        def execv(path, args):
            print(json.dumps({"seed": os.environ.get("PYTHONHASHSEED")}))
            sys.exit(0)
        os.execv = execv
        import wdk.cli
        print(json.dumps({"seed": "not re-executed"}))
    """
    env = {**os.environ}
    env.pop("PYTHONHASHSEED", None)
    proc = subprocess.run(
        [sys.executable, "-c", _DUMP + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"seed": "0"}
    modules = set(json.loads(lines[-1]))
    assert "click" not in modules
    assert sorted(m for m in modules if m.startswith("wdk.")) == [
        "wdk.sandbox",
        "wdk.sandbox._hashseed",
    ]
