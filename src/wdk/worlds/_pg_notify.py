"""Change notification for the PostgreSQL world: LISTEN/NOTIFY fanned out to local waiters.

Writers call ``pg_notify`` inside their transaction (so a notification is sent exactly when
the change commits) on one channel per topic. Channel names are identifiers of at most 63
bytes, while topics embed run ids and stream namespaces of any length, so the channel is a
hash of the schema and the topic; the topic itself travels in the payload, which lets the
listener discard the (astronomically unlikely) hash collision.

Each world owns one dedicated listening connection, shared by every waiter in the process. A
waiter registers an event under its topics; the listener LISTENs on a channel while at least
one waiter wants it and sets the events when a notification arrives. Commits made by this
world also set the events directly, so a waiter in the same process never depends on the
round trip through the server.

Approaches that did not work: running ``LISTEN`` from a waiter's task while the listener task
sits in ``notifies()`` deadlocks (psycopg holds the connection lock for the generator's
whole life), and letting two tasks wait on the socket at once makes asyncio drop one reader.
So only the listener task touches its connection: it sleeps until the socket is readable,
and a waiter that needs a new channel cancels that sleep and lets the listener LISTEN.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable

import anyio
import psycopg

__all__ = ["Listener", "Notifier", "channel_for"]

log = logging.getLogger("wdk.worlds.postgres")


def channel_for(schema: str, topic: str) -> str:
    """The NOTIFY channel of ``topic`` in ``schema``: ``wdk_`` plus 32 hex digits.

    The schema's SQL function ``channel(topic)`` computes the same name (migration 2), so
    a commit made inside the database can NOTIFY without a round trip to ask.
    """
    digest = hashlib.md5(f"{schema}/{topic}".encode(), usedforsecurity=False)
    return f"wdk_{digest.hexdigest()}"


class Notifier:
    """Process-local registry of waiters by topic."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[anyio.Event]] = {}

    def add(self, topics: Iterable[str], event: anyio.Event) -> None:
        """Register ``event`` to be set when any of ``topics`` changes."""
        for topic in topics:
            self._waiters.setdefault(topic, set()).add(event)

    def remove(self, topics: Iterable[str], event: anyio.Event) -> None:
        """Forget ``event``."""
        for topic in topics:
            waiters = self._waiters.get(topic)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[topic]

    def fire(self, topics: Iterable[str]) -> None:
        """Wake every waiter of ``topics``."""
        for topic in topics:
            for event in self._waiters.get(topic, ()):
                event.set()

    def fire_all(self) -> None:
        """Wake every waiter (after a lost connection, when notifications may be missing)."""
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()


class Listener:
    """One LISTEN connection per world, run by a background task started on first use."""

    def __init__(
        self, conninfo: str, schema: str, notifier: Notifier, *, retry_s: float = 1.0
    ) -> None:
        self._conninfo = conninfo
        self._schema = schema
        self._notifier = notifier
        self._retry_s = retry_s
        self._wanted: dict[str, int] = {}  # channel -> number of subscribers
        self._topics: dict[str, str] = {}  # channel -> topic
        self._listening: set[str] = set()  # channels LISTENed on the current connection
        self._ready: dict[str, anyio.Event] = {}  # channel -> set once LISTEN is applied
        self._task: asyncio.Task[None] | None = None
        self._sleep: anyio.CancelScope | None = None
        self._changed = False
        #: The server process id of the LISTEN connection (None until it connects).
        self.backend_pid: int | None = None

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Make sure the connection LISTENs on ``topics``; return once it does."""
        pending: list[anyio.Event] = []
        for topic in topics:
            channel = channel_for(self._schema, topic)
            self._topics[channel] = topic
            self._wanted[channel] = self._wanted.get(channel, 0) + 1
            if channel not in self._listening:
                pending.append(self._ready.setdefault(channel, anyio.Event()))
        if pending:
            self._kick()
            for event in pending:
                await event.wait()

    def unsubscribe(self, topics: Iterable[str]) -> None:
        """Drop one subscription to each of ``topics``; UNLISTEN happens lazily."""
        for topic in topics:
            channel = channel_for(self._schema, topic)
            count = self._wanted.get(channel, 0) - 1
            if count > 0:
                self._wanted[channel] = count
            else:
                self._wanted.pop(channel, None)
                self._changed = True

    def is_listening(self, topic: str) -> bool:
        """Whether notifications for ``topic`` currently reach this process."""
        return channel_for(self._schema, topic) in self._listening

    async def close(self) -> None:
        """Stop the background task and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for event in self._ready.values():
            event.set()  # nobody may wait forever on a closed listener
        self._ready.clear()

    def _kick(self) -> None:
        self._changed = True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif self._sleep is not None:
            self._sleep.cancel()

    async def _run(self) -> None:
        reconnect = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.OperationalError as exc:
                log.warning("LISTEN connection failed: %s; retrying", exc)
                await anyio.sleep(self._retry_s)
                continue
            try:
                self.backend_pid = conn.info.backend_pid
                self._listening.clear()
                self._changed = True  # (re-)LISTEN every wanted channel
                if reconnect:
                    # Notifications sent while we were away are lost: everybody re-checks.
                    self._notifier.fire_all()
                await self._serve(conn)
            except psycopg.OperationalError as exc:
                log.warning("LISTEN connection lost: %s; reconnecting", exc)
                reconnect = True
            finally:
                await conn.close()

    async def _serve(self, conn: psycopg.AsyncConnection[object]) -> None:
        fd = conn.fileno()
        while True:
            if self._changed:
                self._changed = False
                await self._apply(conn)
            await self._drain(conn)
            with anyio.CancelScope() as scope:
                self._sleep = scope
                if not self._changed:
                    await anyio.wait_readable(fd)
            self._sleep = None
            await self._drain(conn)
            if conn.pgconn.status != psycopg.pq.ConnStatus.OK:
                # The server hung up politely (an error message, then EOF): the socket stays
                # readable, so waiting on it again would spin.
                raise psycopg.OperationalError("the LISTEN connection was closed by the server")

    async def _apply(self, conn: psycopg.AsyncConnection[object]) -> None:
        for channel in sorted(set(self._wanted) - self._listening):
            await conn.execute(f'LISTEN "{channel}"')  # type: ignore[arg-type]
            self._listening.add(channel)
        for channel in sorted(self._listening - set(self._wanted)):
            await conn.execute(f'UNLISTEN "{channel}"')  # type: ignore[arg-type]
            self._listening.discard(channel)
            self._topics.pop(channel, None)
        for channel in list(self._ready):
            if channel in self._listening or channel not in self._wanted:
                self._ready.pop(channel).set()

    async def _drain(self, conn: psycopg.AsyncConnection[object]) -> None:
        async for note in conn.notifies(timeout=0):
            topic = self._topics.get(note.channel)
            if topic is not None and topic == note.payload:
                self._notifier.fire((topic,))
