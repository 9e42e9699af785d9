"""The runs view of the PostgreSQL world, read: one run, and pages of runs.

``append_one`` (``_pg_functions``) maintains the view; this module only reads it.

An id prefix is taken literally. Where the database sorts text by code point (collation C,
POSIX or C.UTF-8, or the builtin provider) it is a range on the primary key,
``prefix <= run_id < bound``, which reads only the matching ids. A linguistic collation (en_US,
ICU...) does not keep the ids sharing a prefix together (under ``en-x-icu``,
``'wrun_01HZAB' < 'wrun_01H['`` is false: ``[`` sorts before letters), so there the filter is
``starts_with``, exact but read from every row the other filters leave.
"""

from __future__ import annotations

from typing import Any

import psycopg

from wdk.worlds._cursor import decode_cursor, encode_cursor, prefix_upper_bound
from wdk.worlds.base import Page, RunInfo

__all__ = ["RunsSQL", "sorts_by_code_point"]

_COLUMNS = (
    "run_id, workflow_id, status, created_at, started_at, completed_at, input, output, error,"
    " deployment_id, forked_from, queue, queue_key, priority"
)
_CODE_POINT_LOCALES = frozenset({"c", "posix", "c.utf8", "c.utf-8"})


def _b(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None


def _run(row: tuple[Any, ...]) -> RunInfo:
    run_id, workflow_id, status, created, started, completed, inp, out, err, dep, fork = row[:11]
    return RunInfo(
        run_id=run_id,
        workflow_id=workflow_id,
        status=status,
        created_at=created,
        started_at=started,
        completed_at=completed,
        input=_b(inp),
        output=_b(out),
        error=_b(err),
        deployment_id=dep,
        forked_from=fork,
        queue=row[11],
        queue_key=row[12],
        priority=row[13],
    )


async def sorts_by_code_point(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the database's default collation (the runs' ids use it) sorts by code point.

    ``datlocprovider`` is read through ``to_jsonb`` because servers before 15 lack the column
    (their provider is libc): 'c' is libc, 'i' ICU, 'b' (17+) the builtin provider, whose
    locales all sort by code point.
    """
    cur = await conn.execute(
        """SELECT d.datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d
        WHERE d.datname = current_database()"""
    )
    row = await cur.fetchone()
    if row is None:
        return False
    collate, provider = row
    if provider == "b":
        return True
    return provider in (None, "c") and str(collate).lower() in _CODE_POINT_LOCALES


class RunsSQL:
    """Runs-view queries for one schema. ``code_point_ids``: see :func:`sorts_by_code_point`."""

    def __init__(self, quoted_schema: str) -> None:
        self._table = f"{quoted_schema}.runs"
        self._get = f"SELECT {_COLUMNS} FROM {self._table} WHERE run_id = %s"
        self.code_point_ids = False

    async def get(self, conn: psycopg.AsyncConnection[Any], run_id: str) -> RunInfo | None:
        """The run view, or None."""
        cur = await conn.execute(self._get, (run_id,))  # type: ignore[arg-type]
        row = await cur.fetchone()
        return _run(row) if row else None

    async def page(
        self,
        conn: psycopg.AsyncConnection[Any],
        *,
        workflow_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        id_prefix: str | None,
        deployment_id: str | None,
    ) -> Page:
        """Runs newest first (``created_at`` then id), filtered, paged by an opaque cursor."""
        if limit <= 0 or (id_prefix is not None and "\x00" in id_prefix):
            return Page([], None)  # PostgreSQL text holds no NUL: no id starts with one
        sql, params = self.select(
            workflow_id=workflow_id,
            status=status,
            limit=limit + 1,
            cursor=cursor,
            id_prefix=id_prefix,
            deployment_id=deployment_id,
        )
        cur = await conn.execute(sql, params)  # type: ignore[arg-type]
        rows = await cur.fetchall()
        runs = [_run(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(runs[-1].created_at, runs[-1].run_id) if more else None
        return Page(runs, next_cursor)

    def select(
        self,
        *,
        workflow_id: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        id_prefix: str | None,
        deployment_id: str | None,
    ) -> tuple[str, list[Any]]:
        """The query of :meth:`page` (``limit`` rows) and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("workflow_id", workflow_id),
            ("status", status),
            ("deployment_id", deployment_id),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if id_prefix:
            self._prefix(id_prefix, where, params)
        if cursor is not None:
            where.append("(created_at, run_id) < (%s, %s)")
            params.extend(decode_cursor(cursor))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"""SELECT {_COLUMNS} FROM {self._table} {clause}
            ORDER BY created_at DESC, run_id DESC LIMIT %s"""
        return sql, [*params, limit]

    def _prefix(self, prefix: str, where: list[str], params: list[Any]) -> None:
        """Add the id-prefix filter (see the module docstring)."""
        if not self.code_point_ids:
            where.append("starts_with(run_id, %s)")
            params.append(prefix)
            return
        where.append("run_id >= %s")
        params.append(prefix)
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            where.append("run_id < %s")
            params.append(upper)
