"""The workflow-side API: what ``from wdk import ...`` gives workflow code."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from wdk._context import current, current_or_none
from wdk._delivery import HookResumeResult, TypedPayload, resume_checked
from wdk._http import FETCH_STEP_ID
from wdk._webhooks import Hook, create_typed_hook
from wdk.errors import PatchError, WorkflowError
from wdk.runtime._concurrency import race, sleep_future
from wdk.runtime._metadata import _step
from wdk.runtime._proxies import StepFunction
from wdk.runtime._scheduler import Future
from wdk.worlds._default import ready

__all__ = [
    "Hook",
    "HookDefinition",
    "create_hook",
    "define_hook",
    "deprecate_patch",
    "fetch",
    "patched",
    "race",
    "sleep",
]

T = TypeVar("T")


def sleep(duration: Any) -> Future:
    """Durably sleep for a duration or until an aware ``datetime``.

    Accepts ``"100ms" "30s" "5m" "2h" "1d" "2w"``, seconds, a ``timedelta``, or an aware
    ``datetime``. No process is held while the run sleeps.
    """
    return sleep_future(duration)


def patched(name: str) -> bool:
    """Whether this run takes the new code path of the patch ``name``.

    ``if wdk.patched("charge-twice"): <new code> else: <old code>``: True for runs that reach
    this point on code that has the patch (new runs, and old runs that had not got this far),
    False for a run whose log went past this point before the patch existed, so it replays
    the old path. The answer is recorded, so a run's answer never changes. Once no run needs
    the old path, replace the call with :func:`deprecate_patch`, and later remove it.
    """
    return _patch_context("patched").patched(name)  # type: ignore[no-any-return]


def deprecate_patch(name: str) -> None:
    """Mark the patch ``name`` as the only path: the old branch is gone.

    Runs that already took the new path go on; a run that would still need the old path is
    blocked (not failed) with a message saying to keep ``patched(name)`` until it finishes.
    """
    _patch_context("deprecate_patch").patched(name, deprecated=True)


def _patch_context(what: str) -> Any:
    ctx = current_or_none()
    if ctx is None or not hasattr(ctx, "patched"):
        raise PatchError(
            f"{what}() is for workflow code (a function whose first statement is "
            '"use workflow"): a step or a client always runs the current code, so it has no '
            "old path to choose."
        )
    return ctx


fetch = StepFunction(FETCH_STEP_ID, name="fetch")
fetch.__doc__ = "A built-in step doing one HTTP request; returns a serializable Response."


def create_hook(*, token: str | None = None, metadata: Any = None) -> Hook[Any]:
    """Create a hook. Without ``token`` an unguessable one (192 bits) is made."""
    ctx: Any = current("create_hook()")
    cmd = ctx.create_hook(token, metadata, "hook")
    return Hook(ctx, cmd)


class HookDefinition(Generic[T]):
    """A typed hook: ``.create(...)`` in a workflow, ``await .resume(token, payload)`` anywhere.

    ``resume`` validates the payload against the schema and raises ``HookPayloadError`` listing
    the field errors before anything is stored.
    """

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._typed = TypedPayload(schema)

    def create(self, *, token: str | None = None, metadata: Any = None) -> Hook[T]:
        """Create a hook of this type in workflow code (the server validates against it)."""
        hook: Hook[T] = create_typed_hook(
            self.schema, token=token, metadata=metadata, convert=self._typed.validate
        )
        return hook

    def validate(self, payload: Any) -> T:
        """The payload validated against the schema, or ``HookPayloadError``."""
        value: T = self._typed.validate(payload)
        return value

    async def resume(self, token: str, payload: Any, *, world: Any = None) -> HookResumeResult:
        """Validate ``payload`` and deliver it to the hook holding ``token``.

        The hook's own recorded schema is applied too (the one path every delivery takes, see
        :func:`wdk._delivery.resume_checked`).
        """
        if current_or_none() is not None and _step.get() is None:
            # Workflow code: a resume writes to the world outside the run's log, so a replay
            # would do it again; it is I/O, which workflow code may not do.
            raise WorkflowError(
                "resume() of a hook cannot be called from workflow code: it writes to the "
                'world outside the run\'s log. Call it from a step (a "use step" function) '
                "or from outside any workflow."
            )
        return await resume_checked(await ready(world), token, self.validate(payload))


def define_hook(schema: Any) -> HookDefinition[Any]:
    """Define a typed hook at module level (see :class:`HookDefinition`)."""
    return HookDefinition(schema)
