"""The wdk error hierarchy.

Every error wdk raises on purpose derives from :class:`WorkflowError`::

    WorkflowError
    ├── FatalError                  a step failed for good; never retried
    ├── RetryableError              a step failed; retry after ``retry_after``
    ├── SandboxError                workflow code did something non-deterministic
    │   ├── AllocationLimitError    it would build a value over the allocation limit
    │   └── BudgetExceededError     it ran past its budget without a durable call
    ├── SerializationError          a value cannot cross a durable boundary
    ├── BuildError                  the compiler refused a source tree
    ├── DurationError               a duration or deadline could not be parsed
    ├── HookConflictError           a live hook already holds the token
    ├── HookNotFoundError           no live hook has the token
    ├── HookPayloadError            a payload failed its hook's schema
    ├── WorkflowRunFailedError      the run ended ``failed``
    ├── WorkflowRunCancelledError   the run ended ``cancelled``
    ├── WorkflowRunNotFoundError    no run has the id
    ├── WorkflowNotRegisteredError  no workflow has the id
    ├── StepNotRegisteredError      no step has the id
    ├── ReplayDivergenceError       the workflow code no longer matches its event log
    ├── PatchError                  ``patched()`` misused (not in a workflow, a bad name...)
    ├── RunStateError               the run cannot do that as it stands (retry a finished run)
    ├── AmbiguousRunIdError         a run id prefix matches more than one run
    ├── QueueError                  a flow-control queue misdeclared, unknown, or misused
    ├── ScheduleError               a ``schedule(...)`` is invalid, or no schedule has the id
    └── WorldError                  a storage backend was misconfigured or failed

Extra fields are keyword-only. Every error pickles and round-trips through ``wdk.serde``:
``args`` always holds exactly the constructor's positional arguments.

Internal control-flow signals (a workflow suspending, a sandbox being torn down) are *not* in
this tree: they derive from ``BaseException`` so that user ``except Exception`` cannot swallow
them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AllocationLimitError",
    "AmbiguousRunIdError",
    "BudgetExceededError",
    "BuildError",
    "DurationError",
    "FatalError",
    "HookConflictError",
    "HookNotFoundError",
    "HookPayloadError",
    "PatchError",
    "QueueError",
    "ReplayDivergenceError",
    "RetryableError",
    "RunErrorCause",
    "RunStateError",
    "SandboxError",
    "ScheduleError",
    "SerializationError",
    "StepNotRegisteredError",
    "WorkflowError",
    "WorkflowNotRegisteredError",
    "WorkflowRunCancelledError",
    "WorkflowRunFailedError",
    "WorkflowRunNotFoundError",
    "WorldError",
]

#: Run error codes recorded on a failed run (``WorkflowRunFailedError.cause.code``).
USER_ERROR = "USER_ERROR"
RUNTIME_ERROR = "RUNTIME_ERROR"
REPLAY_DIVERGENCE = "REPLAY_DIVERGENCE"
CORRUPTED_EVENT_LOG = "CORRUPTED_EVENT_LOG"
#: Codes of a *blocked* run (``RunInfo.error`` while its status is ``blocked``).
WORKFLOW_NOT_REGISTERED = "WORKFLOW_NOT_REGISTERED"
STEP_NOT_REGISTERED = "STEP_NOT_REGISTERED"


class WorkflowError(Exception):
    """Base class of every error wdk raises on purpose."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[WorkflowError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


def error_text(exc: BaseException) -> str:
    """``str(exc)``, or a description of it when ``str()`` itself raises.

    A user's error may hold a value whose ``str()`` fails (an int past Python's 4,300-digit
    conversion limit, a broken ``__str__``); recording the failure must not fail with it.
    """
    try:
        return str(exc)
    except Exception as inner:  # noqa: BLE001 - any failure of user __str__ is described
        return f"<{type(exc).__qualname__} whose str() failed: {type(inner).__name__}: {inner}>"


class FatalError(WorkflowError):
    """Raise in a step to fail it at once, without retries. Catchable in the workflow."""


class RetryableError(WorkflowError):
    """Raise in a step to retry it after ``retry_after`` (a duration; default 1 second).

    ``retry_after`` accepts every form ``wdk.sleep`` does: ``"30s"``, seconds as a number, a
    ``timedelta`` or an aware ``datetime`` to retry at.
    """

    def __init__(
        self,
        message: str = "",
        retry_after: str | float | _dt.timedelta | _dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SandboxError(WorkflowError):
    """Workflow code tried something that is not deterministic or does I/O.

    The message says what was refused, where (file:line) and what to move into a step.
    """


class AllocationLimitError(SandboxError):
    """Workflow code would build a value larger than the sandbox's allocation limit.

    Raised *before* allocating (``"x" * 10**12``, ``bytes(n)``, ``range(n)``, ``10**10**10``);
    the message names the file:line, the operation, the size and the limit.
    """


class BudgetExceededError(SandboxError):
    """A workflow activation ran longer than its budget without reaching a durable call.

    The message names the file:line where the code was interrupted and the budget. The run
    fails with it even if the code catches it (the point it was stopped at depends on time).
    """


class SerializationError(WorkflowError):
    """A value cannot be serialized (or bytes cannot be decoded).

    ``path`` points into the value (``args[1]["client"]``), ``type_name`` names the offending
    type.
    """

    def __init__(self, message: str = "", *, path: str = "", type_name: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.type_name = type_name


class BuildError(WorkflowError):
    """The compiler refused a source tree; ``diagnostics`` lists every problem with file:line."""

    def __init__(self, message: str = "", *, diagnostics: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class DurationError(WorkflowError, ValueError):
    """A duration (``"5m"``), number of seconds or deadline could not be understood."""


class HookConflictError(WorkflowError):
    """Another live hook already holds this token."""

    def __init__(self, message: str = "", *, token: str = "", conflicting_run_id: str = "") -> None:
        super().__init__(message)
        self.token = token
        self.conflicting_run_id = conflicting_run_id


class HookNotFoundError(WorkflowError):
    """No live hook holds this token (unknown, disposed, or its run has ended)."""

    def __init__(self, message: str = "", *, token: str = "") -> None:
        super().__init__(message)
        self.token = token


class HookPayloadError(WorkflowError):
    """A hook payload failed validation against the hook's schema; nothing was stored.

    ``errors`` lists the field errors as pydantic reports them.
    """

    def __init__(self, message: str = "", *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass(frozen=True)
class RunErrorCause:
    """Why a run failed: the message, a run error code and the stack text."""

    message: str
    code: str = USER_ERROR
    stack: str = ""
    type: str = ""


class WorkflowRunFailedError(WorkflowError):
    """The run ended ``failed``; ``cause`` holds the message, code and stack."""

    def __init__(
        self, message: str = "", *, run_id: str = "", cause: RunErrorCause | None = None
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.cause = cause or RunErrorCause(message=message)


class WorkflowRunCancelledError(WorkflowError):
    """The run ended ``cancelled``."""

    def __init__(self, message: str = "", *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class WorkflowRunNotFoundError(WorkflowError):
    """No run has this id."""

    def __init__(self, message: str = "", *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id


class WorkflowNotRegisteredError(WorkflowError):
    """No workflow is registered under this id."""

    def __init__(self, message: str = "", *, workflow_id: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id


class StepNotRegisteredError(WorkflowError):
    """No step is registered under this id.

    A worker that meets a step its code does not have parks the run (status ``blocked``)
    instead of failing it: a deploy problem, tried again on other code (docs/deploys.md).
    """

    def __init__(self, message: str = "", *, step_id: str = "") -> None:
        super().__init__(message)
        self.step_id = step_id


class ReplayDivergenceError(WorkflowError):
    """The workflow code no longer matches its event log.

    ``position`` is the call's place in the run, ``expected`` what the log recorded there and
    ``actual`` what the code asked for.
    """

    def __init__(
        self, message: str = "", *, position: int = -1, expected: str = "", actual: str = ""
    ) -> None:
        super().__init__(message)
        self.position = position
        self.expected = expected
        self.actual = actual


class PatchError(WorkflowError):
    """``patched()`` / ``deprecate_patch()`` misused.

    Called outside workflow code, with a name that is not a non-empty string, or one name
    answered both ways in one run.
    """

    def __init__(self, message: str = "", *, name: str = "") -> None:
        super().__init__(message)
        self.name = name


class RunStateError(WorkflowError):
    """The run exists but cannot do what was asked as it stands (``status`` says why).

    Retrying a run that is not blocked; forking from a step it never reached.
    """

    def __init__(self, message: str = "", *, run_id: str = "", status: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status


class AmbiguousRunIdError(WorkflowError):
    """A run id prefix matches more than one run; ``matches`` lists some of them."""

    def __init__(
        self, message: str = "", *, prefix: str = "", matches: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.prefix = prefix
        self.matches = matches


class ScheduleError(WorkflowError, ValueError):
    """A ``schedule(...)`` is invalid, or no schedule has the id asked for.

    Invalid: a cron that does not parse, a timezone that does not exist, a target that is not
    a workflow, arguments that cannot be stored. ``schedule_id`` names the schedule.
    """

    def __init__(self, message: str = "", *, schedule_id: str = "") -> None:
        super().__init__(message)
        self.schedule_id = schedule_id


class WorldError(WorkflowError):
    """A storage backend (world) was misconfigured or failed."""


class QueueError(WorkflowError, ValueError):
    """A flow-control queue was declared wrong, is unknown, or a start asked it for too much.

    ``queue`` names the queue (empty when the name itself is the problem).
    """

    def __init__(self, message: str = "", *, queue: str = "") -> None:
        super().__init__(message)
        self.queue = queue
