"""A real `wdk serve` subprocess: the environment it runs in, its start and its stop."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

WDK = str(Path(sys.executable).parent / "wdk")


def serve_env(tmp: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ours, a cache under ``tmp``, quiet logs, no WDK_WORLD."""
    full_env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "WDK_CACHE_DIR": str(tmp / "cache"),
        "WDK_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    full_env.pop("WDK_WORLD", None)
    return full_env


def launch(
    cmd: list[str], cwd: Path, env: dict[str, str]
) -> tuple[str, subprocess.Popen[str], list[str]]:
    """Start ``cmd``; once it printed "listening on URL": the URL, the process, its log so far
    (stderr keeps being collected into that list)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        line = lines.get(timeout=60)
        if line is None:
            raise RuntimeError("wdk serve exited:\n" + "".join(log))
        if "listening on " in line:
            return line.rsplit("listening on ", 1)[1].strip(), proc, log


def stop_process(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 20 s; the stderr pipe is closed either way."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        if proc.stderr is not None:
            proc.stderr.close()
