"""Scale-out benchmark: 5-step workflows on one PostgreSQL with 1, 2 and 4 worker processes.

wdk: ``wdk worker --world postgresql://...?schema=<fresh>`` subprocesses; the benchmark
process starts N runs of ``benchflows.chain(5)`` with ``wdk.api.start``.

DBOS, in the same script run on the same server: its documented scale-out model, a
``dbos.Queue`` served by 1, 2 or 4 DBOS worker processes (``bench/fixtures/dbosflows.py``,
each with its own ``executor_id``), with workflows enqueued from this process by a
``DBOSClient``. Its system database is a fresh database per measurement. The queue polls
every 0.1 s (DBOS's default is 1 s; shorter helps DBOS here) with ``worker_concurrency`` 16.

Throughput = N / (last completion - first enqueue), with the last completion read from each
system's own records (wdk ``runs.completed_at``, DBOS ``workflow_status.updated_at``), so how
fast this process notices the end does not count.

Run: ``.venv/bin/python bench/bench_pg_scale.py [--runs N] [--quick]``; writes its section of
docs/benchmarks.md (not with ``--quick``). Schemas and databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

PG = os.environ.get("WDK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
WDK = str(Path(sys.executable).with_name("wdk"))
CHAIN = "workflow//benchflows.py//chain"
STEPS = 5
EXPECTED = STEPS * (STEPS + 1) // 2


@contextlib.contextmanager
def processes(cmds: list[list[str]], env: dict[str, str], ready: str) -> Iterator[None]:
    """Start the commands, wait for ``ready`` on each one's output, SIGTERM them at the end."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for cmd in cmds:
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            procs.append(proc)
            assert proc.stdout is not None
            for line in proc.stdout:  # launch one at a time: migrations never race
                if ready in line:
                    break
            else:
                raise RuntimeError(f"{cmd[0]} exited before it was ready")
            # keep reading, so a chatty process never blocks on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


# -- wdk -----------------------------------------------------------------------------------------
async def wdk_once(n_workers: int, n_runs: int, concurrency: int) -> float:
    from wdk.api import start
    from wdk.worlds.postgres import PostgresWorld

    schema = f"wdk_bench_{uuid.uuid4().hex[:10]}"
    world = PostgresWorld(PG, schema=schema)
    await world.setup()
    env = dict(os.environ, PYTHONHASHSEED="0", WDK_LOG_LEVEL="WARNING")
    url = f"{PG}?schema={schema}"
    cmd = [WDK, "worker", "--world", url, "--root", str(FIXTURES), "-c", str(concurrency)]
    try:
        with processes([cmd] * n_workers, env, ready="wdk worker"):
            t0 = time.time()
            runs = [await start(CHAIN, [STEPS], world=world) for _ in range(n_runs)]
            for run in runs:
                assert await run.return_value(timeout=600) == EXPECTED
            last = max([(await run.info()).completed_at or 0.0 for run in runs])
        return n_runs / (last - t0)
    finally:
        await world.drop_schema()
        await world.close()


# -- DBOS ----------------------------------------------------------------------------------------
def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql)


def dbos_once(n_workers: int, n_runs: int) -> float:
    import psycopg
    from dbos import DBOSClient

    base, _, _ = PG.rpartition("/")
    name = f"dbos_bench_{uuid.uuid4().hex[:8]}"
    url = f"{base}/{name}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        cmds = [
            [sys.executable, str(FIXTURES / "dbosflows.py"), url, f"bench-{i}"]
            for i in range(n_workers)
        ]
        with processes(cmds, dict(os.environ), ready="ready"):
            client = DBOSClient(system_database_url=url)
            try:
                t0 = time.time()
                options: Any = {"queue_name": "bench", "workflow_name": "chain"}
                handles = [client.enqueue(options, STEPS) for _ in range(n_runs)]
                for handle in handles:
                    assert handle.get_result() == EXPECTED
            finally:
                client.destroy()
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT max(updated_at), count(*) FROM dbos.workflow_status"
                    " WHERE status = 'SUCCESS'"
                ).fetchone()
        assert row is not None and row[1] == n_runs, row
        return n_runs / (row[0] / 1000 - t0)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- report --------------------------------------------------------------------------------------
def report(results: dict[str, dict[int, float]], n_runs: int, concurrency: int) -> str:
    counts = sorted(results["wdk"])
    rows = [
        f"| {k} | {results['wdk'][k]:.0f} | {results['dbos'][k]:.0f}"
        f" | {results['wdk'][k] / results['dbos'][k]:.1f}x |"
        for k in counts
    ]
    top = counts[-1]
    ratio = results["wdk"][top] / results["dbos"][top]
    verdict = "**yes**" if ratio >= 3 else "**NO**"
    return "\n".join(
        [
            "## Scale-out on PostgreSQL: wdk vs DBOS",
            "",
            f"`bench/bench_pg_scale.py`; {machine()}; PostgreSQL on 127.0.0.1, the same server",
            f"for both. {n_runs} workflows of {STEPS} trivial steps each; workflows/s from the",
            "first enqueue to the last completion (as each system recorded it). wdk: `wdk worker",
            f"-c {concurrency}` processes on a fresh schema, runs started with `wdk.api.start`.",
            "DBOS: a `dbos.Queue` (`worker_concurrency=16`, polled every 0.1 s) served by DBOS",
            "worker processes with distinct executor ids on a fresh system database, workflows",
            "enqueued by a `DBOSClient`. Every process shares the machine's cores with the",
            "database and the enqueuing process.",
            "",
            "| worker processes | wdk wf/s | DBOS wf/s | wdk / DBOS |",
            "|---:|---:|---:|---:|",
            *rows,
            "",
            f"Target: wdk >= 3x DBOS's workflows/s at {top} workers: {ratio:.1f}x, {verdict}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="wdk worker -c")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--only", choices=("wdk", "dbos"))
    parser.add_argument("--quick", action="store_true", help="no doc update")
    args = parser.parse_args()
    counts = [int(k) for k in args.workers.split(",")]
    results: dict[str, dict[int, float]] = {"wdk": {}, "dbos": {}}
    for k in counts:
        if args.only != "dbos":
            results["wdk"][k] = anyio.run(wdk_once, k, args.runs, args.concurrency)
            print(f"wdk  {k} workers: {results['wdk'][k]:.0f} wf/s", flush=True)
        if args.only != "wdk":
            results["dbos"][k] = dbos_once(k, args.runs)
            print(f"dbos {k} workers: {results['dbos'][k]:.0f} wf/s", flush=True)
    if args.only:
        return
    markdown = report(results, args.runs, args.concurrency)
    print(markdown)
    if not args.quick:
        write_section("pg_scale", markdown)


if __name__ == "__main__":
    main()
