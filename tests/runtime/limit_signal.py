"""A switch the limits tests flip while a workflow spins (allowed into the sandbox by name).

Not deterministic, on purpose: it only lets a test end a spin without a timing assumption.
"""

import threading

_spinning = threading.Event()
_release = threading.Event()


def spinning() -> None:
    """Called by the workflow as it starts to spin."""
    _spinning.set()


def released() -> bool:
    """Whether the test has let the spinning workflow go."""
    return _release.is_set()


def wait_spinning(timeout: float) -> bool:
    """Block until the workflow spins (a test calls it from a thread)."""
    return _spinning.wait(timeout)


def release() -> None:
    """Let the spinning workflow return."""
    _release.set()


def reset() -> None:
    """Back to the start (before each test)."""
    _spinning.clear()
    _release.clear()
