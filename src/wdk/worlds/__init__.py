"""Worlds: where wdk keeps its event log, queue and streams. Open one by URL.

* ``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db`` — the embedded default;
  ``?synchronous=normal`` trades power-loss durability for speed (see
  :mod:`wdk.worlds.sqlite`), ``?busy_timeout=<seconds>`` sets the write-lock wait.
* ``memory://`` (private) and ``memory://name`` (shared by name within the process).
* ``postgresql://...`` / ``postgres://...`` — several workers on several machines (needs the
  ``postgres`` extra; imported only when asked for).

Without a URL, ``WDK_WORLD`` decides, else ``sqlite:///.wdk/wdk.db`` under the current
directory (created on first use).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from wdk.errors import WorldError
from wdk.worlds.base import World
from wdk.worlds.memory import MemoryWorld
from wdk.worlds.sqlite import SqliteWorld

__all__ = ["DEFAULT_URL", "MemoryWorld", "SqliteWorld", "World", "open_world"]

#: The world used when neither an argument nor ``WDK_WORLD`` names one.
DEFAULT_URL = "sqlite:///.wdk/wdk.db"

_SCHEMES = "sqlite:///<path>, memory://[name], postgresql://..."


def open_world(url: str | None = None) -> World:
    """Open the world at ``url`` (else ``WDK_WORLD``, else :data:`DEFAULT_URL`).

    Opening does no I/O: files and connections are made on first use (or ``setup()``).

    Raises:
        WorldError: the URL's scheme or options are not understood.
    """
    url = url or os.environ.get("WDK_WORLD") or DEFAULT_URL
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        return _open_sqlite(url)
    if scheme == "memory":
        parts = urlsplit(url)
        if parts.path.strip("/") or parts.query:
            raise WorldError(f"bad memory world URL {url!r}: expected memory:// or memory://name")
        return MemoryWorld(parts.netloc or None)
    if scheme in ("postgresql", "postgres"):
        try:
            from wdk.worlds.postgres import PostgresWorld  # type: ignore[import-not-found]
        except ImportError as exc:
            raise WorldError(
                f"cannot open {url!r}: the PostgreSQL world needs the 'postgres' extra "
                f"(pip install 'wdk[postgres]'): {exc}"
            ) from exc
        world: World = PostgresWorld(url)
        return world
    raise WorldError(f"unknown world URL {url!r}; known schemes: {_SCHEMES}")


def _open_sqlite(url: str) -> SqliteWorld:
    parts = urlsplit(url)
    if parts.netloc or not url.startswith("sqlite:///"):
        raise WorldError(
            f"bad sqlite world URL {url!r}: use sqlite:///relative/path or sqlite:////abs/path"
        )
    path = unquote(parts.path[1:])
    if not path:
        raise WorldError(f"bad sqlite world URL {url!r}: no file path")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    synchronous = options.pop("synchronous", "full")
    busy_timeout = options.pop("busy_timeout", "10")
    if options:
        raise WorldError(
            f"unknown sqlite world option(s) {sorted(options)} in {url!r};"
            " known: synchronous, busy_timeout"
        )
    try:
        timeout = float(busy_timeout)
    except ValueError:
        raise WorldError(f"busy_timeout={busy_timeout!r} is not a number of seconds") from None
    return SqliteWorld(path, synchronous=synchronous, busy_timeout=timeout, url=url)
