"""Write one benchmark's section of docs/benchmarks.md, leaving the other sections alone."""

from __future__ import annotations

import platform
import re
from pathlib import Path

_DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_HEADER = (
    "# Benchmarks\n\nMeasured numbers, written by the scripts in `bench/`. Rerun one with\n"
    "`.venv/bin/python bench/<script>.py`; it replaces its own section only.\n"
)


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    import os

    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{python}, {os.cpu_count()} cores, {platform.machine()}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or add) the section marked ``name`` in docs/benchmarks.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = _DOC.read_text() if _DOC.exists() else _HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    _DOC.parent.mkdir(parents=True, exist_ok=True)
    _DOC.write_text(text)
