"""Which workers are gone: crash recovery in seconds instead of a lapsed 30 s lease.

Every worker registers in its world (``World.heartbeat``) with its host, pid and a *process
token*, heartbeats every ``heartbeat_s`` (one light write, in its own timer: nothing on the
path of a message), and sweeps the registrations of the others at start and after every
heartbeat (:class:`Sweeper`). A worker found gone is released (``World.release_worker``): its
registration goes and every message it leased is visible again at once, under a new id.

When is a worker gone?

* **On this machine**: at once, when its pid is no longer running or is now another process.
  The token is ``<machine>/<start>``: the machine is the kernel's boot id and the pid
  namespace (two containers on one kernel see different pids), the start is the process's
  start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), so a reused pid is
  not mistaken for the dead worker. A zombie (killed, not yet reaped) is gone. Where there
  is no ``/proc`` (macOS) the machine is the host name and ``os.kill(pid, 0)`` decides,
  without the pid-reuse check. A live process is never released on this path, however long
  it is paused (a stopped or swapping process keeps its leases until they lapse).
* **On another machine**: when its ``last_seen`` has not moved for ``dead_after_s`` by *this*
  worker's monotonic clock. The two machines' clocks are never compared, so clock skew cannot
  make a live worker look dead; the price is that a worker that just started watches the
  others for ``dead_after_s`` before it can call one gone.

A worker released while alive (its event loop blocked for longer than ``dead_after_s`` on
another machine) is not a correctness problem: its message ids changed, so its acks and lease
extensions find nothing, and the step or run it was in the middle of is recorded once (the
events' dedup keys and ``expect_seq``), whichever worker finishes first. The step may run
twice, as with any lapsed lease.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wdk.worlds.base import WorkerInfo, World

__all__ = ["Sweeper", "is_alive", "machine", "this_worker"]

log = logging.getLogger("wdk.worker")

_PROC = Path("/proc")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def machine() -> str:
    """Where pids mean the same process: the boot id and pid namespace (else the host name)."""
    boot = _read(_PROC / "sys/kernel/random/boot_id")
    if not boot:
        return "host:" + socket.gethostname()
    try:
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        namespace = ""
    return f"linux:{boot}:{namespace}"


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a pid from ``/proc/<pid>/stat``, or None when there is none."""
    text = _read(_PROC / str(pid) / "stat")
    if not text:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses.
    rest = text.rpartition(")")[2].split()
    return (rest[0], rest[19]) if len(rest) > 19 else None


def _token(pid: int) -> str:
    stat = _stat(pid) if sys.platform.startswith("linux") else None
    return f"{machine()}/{stat[1] if stat else ''}"


def this_worker(worker_id: str) -> WorkerInfo:
    """This process's registration as worker ``worker_id``."""
    pid = os.getpid()
    return WorkerInfo(worker_id, host=socket.gethostname(), pid=pid, process=_token(pid))


def is_alive(worker: WorkerInfo, here: str) -> bool | None:
    """Whether ``worker``'s process runs, when it is on machine ``here``; None elsewhere."""
    where, _, start = worker.process.rpartition("/")
    if where != here or worker.pid <= 0:
        return None
    if start:
        stat = _stat(worker.pid)
        return stat is not None and stat[1] == start and stat[0] not in ("Z", "X", "x")
    try:
        os.kill(worker.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


class Sweeper:
    """Finds the workers of a world that are gone and releases them (module docstring).

    Args:
        world: the world the workers share.
        worker_id: this worker (never swept).
        dead_after_s: how long a worker on another machine may go without a heartbeat.
        check_pids: decide at once for workers on this machine (off: only heartbeats count).
        monotonic: this worker's clock for heartbeat ages (tests inject one).
    """

    def __init__(
        self,
        world: World,
        worker_id: str,
        *,
        dead_after_s: float,
        check_pids: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.worker_id = worker_id
        self.dead_after_s = dead_after_s
        self.check_pids = check_pids
        self.monotonic = monotonic
        self.here = machine()
        #: worker id -> (its last_seen, when this sweeper first saw that value)
        self._seen: dict[str, tuple[float, float]] = {}
        #: workers released by this sweeper: (worker id, messages given back)
        self.released: list[tuple[str, int]] = []

    async def sweep(self) -> list[tuple[str, int]]:
        """Release every gone worker; returns (worker id, messages given back) of each."""
        now = self.monotonic()
        gone: list[tuple[str, int]] = []
        seen: dict[str, tuple[float, float]] = {}
        for worker in await self.world.list_workers():
            wid = worker.worker_id
            if wid == self.worker_id:
                continue
            last, since = self._seen.get(wid, (None, now))
            if last != worker.last_seen:
                since = now
            alive = is_alive(worker, self.here) if self.check_pids else None
            if alive or (alive is None and now - since < self.dead_after_s):
                seen[wid] = (worker.last_seen, since)
                continue
            released = await self.world.release_worker(wid, last_seen=worker.last_seen)
            if released is not None:
                why = "its process is gone" if alive is False else "no heartbeat"
                log.warning(
                    "worker %s: worker %s (pid %s on %s) is gone (%s); released %d message(s)",
                    self.worker_id,
                    wid,
                    worker.pid,
                    worker.host,
                    why,
                    released,
                )
                gone.append((wid, released))
        self._seen = seen
        self.released.extend(gone)
        return gone
