"""Migrations: versioned, idempotent, safe when many processes run them at once."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import anyio
import psycopg
import pytest
from click.testing import CliRunner

from wdk.errors import WorldError
from wdk.worlds._pg_migrations import MIGRATIONS, migrate, quote_schema
from wdk.worlds.postgres import PostgresWorld, parse_url

pytestmark = pytest.mark.anyio

LATEST = len(MIGRATIONS)


async def _versions(pg_url: str, schema: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute(
            f'SELECT version FROM "{schema}".schema_migrations ORDER BY version'  # type: ignore[arg-type]
        )
        return [int(r[0]) for r in await cur.fetchall()]


async def _tables(pg_url: str, schema: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        )
        return {str(r[0]) for r in await cur.fetchall()}


async def test_setup_creates_every_table_once(make_world: Any, pg_url: str, schema: str) -> None:
    world = await make_world()
    await world.setup()
    await world.setup()
    assert await _versions(pg_url, schema) == list(range(1, LATEST + 1))
    assert await _tables(pg_url, schema) == {
        "schema_migrations",
        "queues",
        "runs",
        "run_seq",
        "step_claims",
        "events",
        "hooks",
        "queue",
        "streams",
        "chunks",
        "workers",
        "schedules",
    }


async def test_migrate_reports_only_what_it_applied(pg_url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        assert await migrate(conn, schema) == list(range(1, LATEST + 1))
        assert await migrate(conn, schema) == []


async def test_concurrent_migrators_apply_each_version_once(pg_url: str, schema: str) -> None:
    results: list[list[int]] = []

    async def one() -> None:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            results.append(await migrate(conn, schema))

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(one)
    assert sorted(results, key=len) == [[]] * 7 + [list(range(1, LATEST + 1))]
    assert await _versions(pg_url, schema) == list(range(1, LATEST + 1))


def test_concurrent_processes_run_db_migrate(pg_url: str, schema: str) -> None:
    code = (
        "import sys; from wdk.cli._db import db; "
        "db.main(['migrate', '--url', sys.argv[1], '--schema', sys.argv[2]])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg_url, schema],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert sorted(outputs) == sorted(
        [f"schema {schema}: applied migrations {', '.join(map(str, range(1, LATEST + 1)))}"]
        + [f"schema {schema}: up to date"] * 3
    )


def test_cli_migrate_uses_url_schema_and_env(
    pg_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wdk.cli._db import db

    runner = CliRunner()
    monkeypatch.setenv("WDK_WORLD", f"{pg_url}?schema={schema}")
    first = runner.invoke(db, ["migrate"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith(f"schema {schema}: applied migrations 1")
    again = runner.invoke(db, ["migrate", "--url", pg_url, "--schema", schema])
    assert again.exit_code == 0, again.output
    assert again.output == f"schema {schema}: up to date\n"


def test_cli_migrate_refuses_other_worlds(monkeypatch: pytest.MonkeyPatch) -> None:
    from wdk.cli._db import db

    monkeypatch.delenv("WDK_WORLD", raising=False)
    result = CliRunner().invoke(db, ["migrate"])
    assert result.exit_code == 2
    assert "pass --url or set WDK_WORLD" in result.output
    result = CliRunner().invoke(db, ["migrate", "--url", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "needs a postgresql:// URL" in result.output
    assert "upgraded by wdk itself when it is opened" in " ".join(result.output.split())


async def test_drop_schema_removes_everything(pg_url: str, schema: str) -> None:
    world = PostgresWorld(pg_url, schema=schema)
    await world.setup()
    await world.close()
    assert await _tables(pg_url, schema)
    await world.drop_schema()
    assert await _tables(pg_url, schema) == set()
    await world.drop_schema()  # idempotent


async def test_closed_world_refuses_work(make_world: Any) -> None:
    world = await make_world()
    await world.close()
    with pytest.raises(WorldError, match="closed"):
        await world.get_run("r")
    with pytest.raises(WorldError, match="closed"):
        await world.setup()


async def test_unreachable_server_is_a_world_error() -> None:
    world = PostgresWorld("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    with pytest.raises(WorldError, match="cannot connect"):
        await world.setup()
    await world.close()


def test_url_schema_parameter_is_stripped_and_argument_wins() -> None:
    conninfo, schema = parse_url("postgresql://u@h:5/db?schema=s1&sslmode=disable")
    assert (conninfo, schema) == ("postgresql://u@h:5/db?sslmode=disable", "s1")
    assert PostgresWorld("postgresql://u@h/db?schema=s1").schema == "s1"
    assert PostgresWorld("postgresql://u@h/db?schema=s1", schema="s2").schema == "s2"
    assert PostgresWorld("postgres://u@h/db").schema == "wdk"
    with pytest.raises(WorldError):
        parse_url("sqlite:///x.db")


@pytest.mark.parametrize("name", ["", "1abc", 'a"b', "a b", "x" * 64, "a;drop"])
def test_schema_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="invalid PostgreSQL schema name"):
        quote_schema(name)
