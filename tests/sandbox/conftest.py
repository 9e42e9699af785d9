from __future__ import annotations

import random
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wdk import _context
from wdk.sandbox import BundleSource, WorkflowSandbox


class FakeContext:
    """The WorkflowContext the shims read, with a fixed clock and a seeded random."""

    workflow_id = "workflow//wf.py//wf"

    def __init__(self, seed: int = 7, now: float = 1_700_000_000.25) -> None:
        self.run_id = f"wrun_{seed}"
        self.started_at = now
        self._now = now
        self.random = random.Random(seed)
        self.logs: list[str] = []

    def now(self) -> float:
        return self._now

    def log(self, text: str) -> None:
        self.logs.append(text)

    def schedule(self, command: Any) -> Any:  # pragma: no cover - not used by the sandbox
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDK_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def ctx() -> Iterator[FakeContext]:
    c = FakeContext()
    token = _context.use(c)
    try:
        yield c
    finally:
        _context._current.reset(token)


def drive(coro: Any, sends: Callable[[Any], Any] = lambda y: y) -> Any:
    """Run a coroutine whose awaits yield plain values; each yield is sent back (or mapped)."""
    value = None
    try:
        while True:
            yielded = coro.send(value)
            value = sends(yielded)
    except StopIteration as stop:
        return stop.value


def make_sandbox(modules: dict[str, str], tmp_path: Path, **kwargs: Any) -> WorkflowSandbox:
    """A sandbox whose user modules are ``modules`` (name -> source), files under tmp_path."""
    files: dict[str, BundleSource] = {}
    for name, src in modules.items():
        is_pkg = name.endswith("/")
        name = name.rstrip("/")
        rel = name.replace(".", "/") + ("/__init__.py" if is_pkg else ".py")
        files[name] = BundleSource(textwrap.dedent(src), str(tmp_path / "src" / rel))
    return WorkflowSandbox(files.get, **kwargs)


def run_body(body: str, tmp_path: Path, name: str = "wf") -> Any:
    """Load a module whose ``wf`` coroutine has ``body`` and drive it to the end."""
    src = "async def wf():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    sandbox = make_sandbox({name: src}, tmp_path)
    mod = sandbox.import_module(name)
    return drive(mod.wf())
