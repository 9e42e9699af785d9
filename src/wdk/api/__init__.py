"""The client side of wdk: start runs, follow them, resume hooks.

All calls are coroutines; :mod:`wdk.api.sync` has a blocking twin of each for scripts and
synchronous frameworks. The world is ``world=`` if given, else the process default chosen by
``WDK_WORLD`` (an embedded SQLite file under ``.wdk/`` by default).
"""

from wdk.api._client import (
    HookInfo,
    HookResumeResult,
    Run,
    get_hook_by_token,
    get_run,
    get_world,
    list_runs,
    resume_hook,
    resume_webhook,
    set_world,
    start,
)

__all__ = [
    "HookInfo",
    "HookResumeResult",
    "Run",
    "get_hook_by_token",
    "get_run",
    "get_world",
    "list_runs",
    "resume_hook",
    "resume_webhook",
    "set_world",
    "start",
]
