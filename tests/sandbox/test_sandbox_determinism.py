"""The same workflow in two processes, different wall clocks and hash seeds, same values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import json, random, sys, time as real_time
sys.path.insert(0, sys.argv[1])
from conftest import FakeContext, drive, make_sandbox
from pathlib import Path
from wdk import _context

skew = float(sys.argv[3])
real_now = real_time.time
real_time.time = lambda: real_now() + skew          # a different wall clock per process

SRC = """
import time, datetime, random, uuid
async def wf():
    calls = []
    for tag in {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}:
        calls.append(tag)                            # set iteration order drives call order
    return {
        "time": time.time(), "now": datetime.datetime.now().isoformat(),
        "today": datetime.date.today().isoformat(), "random": random.random(),
        "randint": random.randint(0, 10**9), "uuid": str(uuid.uuid4()), "calls": calls,
    }
"""
_context.use(FakeContext(seed=99, now=1_712_345_678.5))
mod = make_sandbox({"det": SRC}, Path(sys.argv[2])).import_module("det")
print(json.dumps(drive(mod.wf())))
'''


def _run(tmp_path: Path, seed: str, skew: float) -> dict[str, object]:
    env = dict(os.environ, PYTHONHASHSEED=seed, WDK_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent), str(tmp_path), str(skew)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_same_values_in_different_processes(tmp_path: Path) -> None:
    a = _run(tmp_path, "0", 0.0)
    b = _run(tmp_path, "0", 86_400 * 365.0)
    assert a == b
    assert a["time"] == 1_712_345_678.5 and a["now"] == "2024-04-05T19:34:38.500000"
    # With another hash seed only the set order may change (that is why workers fix it).
    c = _run(tmp_path, "12345", -3600.0)
    assert {k: v for k, v in c.items() if k != "calls"} == {
        k: v for k, v in a.items() if k != "calls"
    }
    assert sorted(c["calls"]) == sorted(a["calls"])  # type: ignore[arg-type]
