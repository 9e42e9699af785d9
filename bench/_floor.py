"""The floor under a durable SQLite world: one bare commit of a small row, measured here."""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path


def bare_commit_ms(path: Path, synchronous: str = "FULL", n: int = 300) -> float:
    """Median ms of ``BEGIN IMMEDIATE; INSERT small row; COMMIT`` in WAL mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, run_id TEXT, data BLOB)")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (run_id, data) VALUES (?, ?)", ("r", b"x" * 32))
            conn.execute("COMMIT")
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000
    finally:
        conn.close()
