"""The process default world: what ``wdk.api`` calls, steps and streams use without a world.

It lives here, below the runtime and the client, so that code on every layer (a step writing a
stream, a webhook answer, the client) finds the same world without importing upwards.
"""

from __future__ import annotations

from wdk.worlds.base import World

__all__ = ["get_world", "ready", "set_world"]

_world: World | None = None


def get_world() -> World:
    """The process default world (``WDK_WORLD``, else ``.wdk/wdk.db``), opened on first use."""
    global _world
    if _world is None:
        from wdk.worlds import open_world

        _world = open_world()
    return _world


def set_world(world: World | None) -> None:
    """Make ``world`` the process default (None: reopen from ``WDK_WORLD`` on next use)."""
    global _world
    _world = world


async def ready(world: World | None) -> World:
    """``world`` (else the default one), set up once per world object."""
    w = world or get_world()
    if not getattr(w, "_wdk_setup_done", False):
        await w.setup()
        try:
            w._wdk_setup_done = True  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return w
