"""``wdk db``: database maintenance for the PostgreSQL world."""

from __future__ import annotations

import os

import click

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database maintenance (PostgreSQL world)."""


@db.command()
@click.option(
    "--url",
    default=None,
    help="postgresql://... (default: $WDK_WORLD). A ?schema=name parameter is honoured.",
)
@click.option("--schema", default=None, help="Schema to migrate (default: from the URL, or wdk).")
def migrate(url: str | None, schema: str | None) -> None:
    """Create or upgrade wdk's tables. Idempotent; safe to run from many workers at once."""
    import anyio

    from wdk.errors import WorldError

    url = url or os.environ.get("WDK_WORLD")
    if not url:
        raise click.UsageError("no database: pass --url or set WDK_WORLD")
    if not url.startswith(("postgresql://", "postgres://")):
        raise click.UsageError(
            f"wdk db migrate needs a postgresql:// URL, got {url!r} (a SQLite file is created"
            " and upgraded by wdk itself when it is opened)"
        )

    async def run() -> tuple[str, list[int]]:
        import psycopg

        from wdk.worlds._pg_migrations import migrate as apply
        from wdk.worlds.postgres import parse_url

        conninfo, url_schema = parse_url(url)
        name = schema or url_schema or "wdk"
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise WorldError(f"cannot connect to PostgreSQL: {exc}") from exc
        async with conn:
            return name, await apply(conn, name)

    try:
        name, applied = anyio.run(run)
    except (WorldError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if applied:
        click.echo(f"schema {name}: applied migrations {', '.join(map(str, applied))}")
    else:
        click.echo(f"schema {name}: up to date")
