"""``wdk run``'s progress on stderr, read from the run's event log as it grows.

One line per step start, finish and retry, per sleep and per hook wait. Reading the log
(rather than hooking the worker) shows exactly what was recorded, and works the same whichever
process advances the run. On a terminal the lines are styled with rich; piped,
they are plain text, one event a line.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from wdk.cli._views import decode_stored, iso

__all__ = ["Progress"]


def _clock(at: float | None) -> str:
    if at is None:
        return "?"
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S")


def _error(data: Any) -> str:
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _call(name: str, info: dict[str, Any]) -> str:
    """``name(args)`` as a step call reads, its arguments cut at 40 characters."""
    from wdk.cli._common import to_json
    from wdk.cli._views import json_view

    args = info.get("args")
    shown = ", ".join(to_json(json_view(a)) for a in args) if isinstance(args, list | tuple) else ""
    if len(shown) > 40:
        shown = shown[:39] + "…"
    return f"{name}({shown})"


class Progress:
    """Print a run's new events as progress lines (nothing at all when ``quiet``)."""

    def __init__(self, world: Any, run_id: str, *, quiet: bool = False) -> None:
        self.world = world
        self.run_id = run_id
        self.quiet = quiet
        self.seq = 0
        self.names: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self._console: Any = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)

    def say(self, text: str, style: str = "") -> None:
        """One progress line on stderr."""
        if self.quiet:
            return
        if self._console is not None:
            self._console.print(f"[{style}]{text}[/{style}]" if style else text, markup=True)
        else:
            click.echo(text, err=True)

    async def follow(self) -> None:
        """Print events until cancelled, waking on each commit to the run."""
        rid = self.run_id
        while True:
            await self.drain()
            await self.world.wait_for_change([f"run:{rid}", f"done:{rid}"], 1.0)

    async def drain(self) -> None:
        """Print the events recorded since the last call."""
        for e in await self.world.read_events(self.run_id, after_seq=self.seq):
            self.seq = max(self.seq, e.seq)
            line = self._line(e)
            if line is not None:
                self.say(*line)

    def _line(self, e: Any) -> tuple[str, str] | None:
        cid = e.correlation_id or ""
        data = decode_stored(e.data) if e.data else None
        info = data if isinstance(data, dict) else {}
        name = self.names.get(cid, cid)
        if e.type == "step_created":
            self.names[cid] = _call(str(info.get("step", cid)).rpartition("//")[2], info)
        elif e.type == "step_started":
            n = self.attempts[cid] = self.attempts.get(cid, 0) + 1
            return (f"step {name} started" + (f" (attempt {n})" if n > 1 else ""), "cyan")
        elif e.type == "step_completed":
            return f"step {name} completed", "green"
        elif e.type == "step_retrying":
            n = self.attempts.get(cid, 1)
            when = info.get("retry_at") or info.get("resume_at")
            at = f"; retrying at {_clock(when)}" if isinstance(when, int | float) else "; retrying"
            return f"step {name} failed (attempt {n}): {_error(data)}{at}", "yellow"
        elif e.type == "step_failed":
            n = self.attempts.get(cid, 1)
            s = "" if n == 1 else "s"
            return f"step {name} failed after {n} attempt{s}: {_error(data)}", "red"
        elif e.type == "wait_created":
            return f"sleeping until {iso(info.get('resume_at'))}", "magenta"
        elif e.type == "wait_completed":
            return "sleep over", "magenta"
        elif e.type == "hook_created":
            self.tokens[cid] = str(info.get("token", cid))
            return f"waiting for hook {self.tokens[cid]}", "magenta"
        elif e.type == "hook_received":
            return f"hook {self.tokens.get(cid, cid)} received", "magenta"
        return None  # the run's end: `wdk run` prints its result or error itself
