"""Running one step attempt outside the sandbox, and deciding what its outcome means.

Steps are plain Python: async steps run on the worker's event loop, sync steps in a worker
thread (so a blocking call never stalls other runs). The outcome is one of *completed*,
*retry at T* or *failed*; the worker turns it into events.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import math
import random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wdk import serde
from wdk._duration import parse_duration, resolve_deadline
from wdk.errors import (
    DurationError,
    FatalError,
    RetryableError,
    SerializationError,
    StepNotRegisteredError,
)
from wdk.runtime._metadata import StepMetadata, WorkflowMetadata, _step, _workflow
from wdk.runtime._threads import StepThreads

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "RetryPolicy",
    "StepCall",
    "StepOutcome",
    "max_delay_field",
    "run_step",
    "run_step_blocking",
    "settle_step",
]

DEFAULT_MAX_RETRIES = 3

#: Result types that are never awaitable (skips ``inspect.isawaitable``'s ABC check).
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter for steps that raise ordinary exceptions.

    The n-th retry waits a delay drawn uniformly from ``[0, ceiling]``, where the ceiling is
    ``min(base * factor ** (n - 1), max_delay)``: 0-1 s, 0-2 s, 0-4 s, ... up to 0-60 s by
    default. Full jitter, no floor: when a dependency fails for every run at once, their
    retries spread over the whole window instead of arriving together (a floor would bring
    back a crowd at the floor). A step's own ``max_delay`` replaces the policy's. A
    ``RetryableError`` with ``retry_after`` is not jittered: that delay is the step's to set.

    The draw comes from ``rng``, a generator of the policy's own, never the global
    ``random`` (a step may seed that) nor a workflow's replayable one. The delay drawn is
    recorded in the ``step_retrying`` event with the time it gives (``retry_at``); nothing
    recomputes it.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def ceiling(self, attempt: int, max_delay: float | None = None) -> float:
        """The longest wait after failed attempt number ``attempt`` (1-based)."""
        cap = self.max_delay if max_delay is None else max_delay
        try:
            grown = self.base * self.factor ** max(attempt - 1, 0)
        except OverflowError:
            grown = math.inf
        return max(0.0, min(grown, cap))

    def delay(self, attempt: int, max_delay: float | None = None) -> float:
        """A wait after failed attempt number ``attempt``: uniform in ``[0, ceiling]``."""
        return self.rng.uniform(0.0, self.ceiling(attempt, max_delay))


def max_delay_field(value: Any) -> float | str | None:
    """A step's ``max_delay`` as a step call carries it: seconds, text, or None.

    Text is a value that is not a duration: the worker fails the step saying so.
    """
    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError:
        return str(value)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """``status`` is "completed", "retry" or "failed"; ``data`` is the encoded event payload."""

    status: str
    data: bytes
    retry_at: float = math.inf
    at: float = 0.0  # when the attempt ended (also inside ``data``)


def _encode_error(exc: BaseException, at: float, attempt: int, **extra: Any) -> bytes:
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc.__wdk_stack__ = stack  # type: ignore[attr-defined]
    try:
        return serde.encode({"at": at, "error": exc, "attempt": attempt, "stack": stack, **extra})
    except SerializationError:
        # The error itself does not serialize (odd attributes): keep its type and message.
        from wdk.errors import WorkflowError, error_text

        fallback = WorkflowError(f"{type(exc).__qualname__}: {error_text(exc)}")
        return serde.encode(
            {"at": at, "error": fallback, "attempt": attempt, "stack": stack, **extra}
        )


@dataclass(slots=True)
class StepCall:
    """One step attempt, decoded from its message: what to call, with what, and its budget.

    ``resolve_error`` is set (and ``fn`` None) when the step could not be loaded: the attempt
    then fails with it.
    """

    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    meta: StepMetadata | None = None
    workflow: WorkflowMetadata | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    #: the step's ``max_delay`` in seconds (None: the policy's)
    max_delay: float | None = None
    resolve_error: BaseException | None = None
    #: a sync step (not a coroutine function): it runs in a step thread. Set together with
    #: ``fn`` (the worker knows it per step id); :func:`run_step` goes by it.
    blocking: bool = False


async def run_step(
    call: StepCall,
    *,
    policy: RetryPolicy,
    clock: Callable[[], float],
    threads: StepThreads | None = None,
) -> StepOutcome:
    """Run one attempt and classify it. Never raises for step errors."""
    assert call.meta is not None
    try:
        if call.resolve_error is not None:
            raise call.resolve_error
        fn = call.fn
        assert fn is not None
        ctx = _step_context(call)
        if not call.blocking:
            result = await _run_async_in(ctx, fn, call.args, call.kwargs)
        else:
            # A sync step runs in a worker thread: a blocking call never stalls other runs.
            run = functools.partial(ctx.run, fn, *call.args, **call.kwargs)
            if threads is not None:
                result = await threads.run(run)
            else:
                result = await asyncio.get_running_loop().run_in_executor(None, run)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:  # noqa: BLE001 - a step's own error is data, not a crash
        return classify_error(
            exc, call.meta.attempt, call.max_retries, policy, clock, call.max_delay
        )
    return classify_result(result, call.meta, clock)


def run_step_blocking(
    call: StepCall, *, policy: RetryPolicy, clock: Callable[[], float]
) -> StepOutcome | Awaitable[Any]:
    """Run one attempt of a sync step in the calling thread (a step thread) and classify it.

    A sync function that returns an awaitable is not done yet: the awaitable is returned for
    the event loop to finish with :func:`settle_step`.
    """
    assert call.fn is not None and call.meta is not None
    try:
        result = _step_context(call).run(call.fn, *call.args, **call.kwargs)
    except Exception as exc:  # noqa: BLE001 - a step's own error is data, not a crash
        return classify_error(
            exc, call.meta.attempt, call.max_retries, policy, clock, call.max_delay
        )
    if type(result) not in _PLAIN and inspect.isawaitable(result):
        return result
    return classify_result(result, call.meta, clock)


async def settle_step(
    pending: Awaitable[Any],
    call: StepCall,
    *,
    policy: RetryPolicy,
    clock: Callable[[], float],
) -> StepOutcome:
    """Await what a sync step returned (see :func:`run_step_blocking`) and classify it."""
    assert call.meta is not None
    try:
        result = await pending
    except Exception as exc:  # noqa: BLE001 - a step's own error is data, not a crash
        return classify_error(
            exc, call.meta.attempt, call.max_retries, policy, clock, call.max_delay
        )
    return classify_result(result, call.meta, clock)


def _step_context(call: StepCall) -> contextvars.Context:
    ctx = contextvars.copy_context()
    ctx.run(_enter_step, call.meta, call.workflow)
    return ctx


def _enter_step(meta: StepMetadata | None, workflow: WorkflowMetadata | None) -> None:
    _step.set(meta)
    _workflow.set(workflow)


def classify_error(
    exc: BaseException,
    attempt: int,
    max_retries: int,
    policy: RetryPolicy,
    clock: Callable[[], float],
    max_delay: float | None = None,
) -> StepOutcome:
    """What a step's exception means: failed for good, or retry at a time.

    A retry's time is decided here, once, and recorded (``retry_at``, and the ``delay``
    drawn): the worker releases the step's message until exactly that time.
    """
    now = clock()
    if isinstance(exc, FatalError | StepNotRegisteredError) or attempt > max_retries:
        return StepOutcome("failed", _encode_error(exc, now, attempt), at=now)
    if isinstance(exc, RetryableError):
        after = exc.retry_after if exc.retry_after is not None else 1.0
        retry_at = resolve_deadline(after, now)
    else:
        retry_at = now + policy.delay(attempt, max_delay)
    data = _encode_error(exc, now, attempt, retry_at=retry_at, delay=retry_at - now)
    return StepOutcome("retry", data, retry_at, at=now)


def classify_result(result: Any, meta: StepMetadata, clock: Callable[[], float]) -> StepOutcome:
    """A step's return value as its completion, or a failure if it cannot be stored."""
    now = clock()
    try:
        data = serde.encode({"at": now, "result": result, "attempt": meta.attempt})
    except SerializationError as exc:
        err = SerializationError(
            f"step {meta.step_name} returned a value that cannot be stored: {exc}",
            path=exc.path,
            type_name=exc.type_name,
        )
        return StepOutcome("failed", _encode_error(err, now, meta.attempt), at=now)
    return StepOutcome("completed", data, at=now)


async def _run_async_in(
    ctx: contextvars.Context, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    coro = ctx.run(fn, *args, **kwargs)
    # Run the coroutine as a task created inside ``ctx`` so the step's context variables
    # are visible to it and to whatever it awaits.
    task = ctx.run(asyncio.ensure_future, coro)
    return await task
