"""Equal values encode to equal bytes across processes with different hash seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wdk import serde

_SCRIPT = """
import sys
from wdk import serde
words = [f"word-{i}" for i in range(64)]
value = {
    "set": set(words),
    "frozen": frozenset((w, i) for i, w in enumerate(words)),
    "nested": {w: {w, w.upper(), (w, b"x")} for w in words[:8]},
    "tuple_of_sets": (frozenset(words[:5]), {frozenset(words[5:9])}),
}
sys.stdout.write(serde.encode(value).hex() + "\\n" + "|".join(value["set"]))
"""


def _run(seed: str) -> tuple[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout
    encoded, order = out.split("\n")
    return encoded, order


def test_bytes_are_identical_under_different_hash_seeds() -> None:
    first, first_order = _run("1")
    second, second_order = _run("4242")
    assert first_order != second_order, "the seeds should give different set orders"
    assert first == second
    words = [f"word-{i}" for i in range(64)]
    local = {
        "set": set(words),
        "frozen": frozenset((w, i) for i, w in enumerate(words)),
        "nested": {w: {w, w.upper(), (w, b"x")} for w in words[:8]},
        "tuple_of_sets": (frozenset(words[:5]), {frozenset(words[5:9])}),
    }
    assert serde.encode(local).hex() == first
