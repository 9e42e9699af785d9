"""Step proxies and workflow stubs: what step and workflow names are bound to.

In a workflow bundle every step definition is replaced by a :class:`StepFunction` (via the
injected ``__wdk_step__`` decorator); calling one inside a running workflow schedules a durable
step and returns an awaitable. Outside a workflow (inside another step, or in a plain script) it
runs the real function inline. Because the proxy replaces the *definition*, aliases
(``pay = charge``) and steps passed around as values go through it too.

Step references cross durable boundaries as ``{"id", "closure"}``: a plain step function on
the step side (say, returned by a step-as-factory) is recognised by its module and qualified
name and encoded the same way.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from wdk import serde
from wdk._context import current_or_none
from wdk.errors import SerializationError, WorkflowError

__all__ = ["StepFunction", "WorkflowStub", "step_decorator", "workflow_stub"]


class StepFunction:
    """A reference to a step: schedules it in a workflow, calls it inline elsewhere."""

    # RestrictedPython's write guard lets workflow code set attributes (``max_retries``) on
    # objects that opt in this way; proxies are created per run, so nothing is shared.
    _guarded_writes = True

    def __init__(
        self,
        step_id: str,
        closure: Callable[[], dict[str, Any]] | dict[str, Any] | None = None,
        *,
        bind: str | None = None,
        name: str | None = None,
        bound_to: Any = None,
        max_retries: int | None = None,
        max_delay: Any = None,
    ) -> None:
        self.step_id = step_id
        self._closure = closure
        self.bind = bind
        self.__name__ = name or step_id.rsplit("//", 1)[-1].rsplit("/", 1)[-1]
        self._bound_to = bound_to
        self.max_retries = max_retries
        #: the longest retry delay (a duration); None: the worker's policy decides
        self.max_delay = max_delay

    def __repr__(self) -> str:
        return f"<step {self.step_id}>"

    def closure_values(self) -> dict[str, Any]:
        """The captured variables, read now (lazily, so late assignments are seen)."""
        closure = self._closure
        if closure is None:
            return {}
        if callable(closure):
            return dict(closure())
        return dict(closure)

    def __get__(self, obj: Any, objtype: Any = None) -> StepFunction:
        if self.bind == "instance" and obj is not None:
            return StepFunction(
                self.step_id,
                self._closure,
                bind=self.bind,
                name=self.__name__,
                bound_to=obj,
                max_retries=self.max_retries,
                max_delay=self.max_delay,
            )
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._bound_to is not None:
            args = (self._bound_to, *args)
        ctx = current_or_none()
        if ctx is not None:
            return ctx.schedule_step(self, args, kwargs)  # type: ignore[attr-defined]
        from wdk.runtime._loader import default_project

        fn = default_project().step_callable(self.step_id, self.closure_values())
        return fn(*args, **kwargs)


def step_decorator(
    step_id: str,
    closure: Callable[[], dict[str, Any]] | None = None,
    *,
    bind: str | None = None,
) -> Callable[[Callable[..., Any]], StepFunction]:
    """The ``__wdk_step__`` decorator the compiler puts on step definitions in bundles."""

    def decorate(fn: Callable[..., Any]) -> StepFunction:
        return StepFunction(step_id, closure, bind=bind, name=getattr(fn, "__name__", None))

    return decorate


class WorkflowStub:
    """A workflow function seen from outside the sandbox: it carries the workflow ID.

    Calling it directly is refused; start it with ``wdk.api.start``.
    """

    def __init__(self, workflow_id: str, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.__wdk_workflow_id__ = workflow_id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self, "__name__", "workflow")
        raise WorkflowError(
            f"{name}() is a workflow ({self.__wdk_workflow_id__}); it cannot be called "
            f"directly. Start a run with `await wdk.api.start({name}, [args...])`."
        )

    def __repr__(self) -> str:
        return f"<workflow {self.__wdk_workflow_id__}>"


def workflow_stub(workflow_id: str, fn: Callable[..., Any]) -> WorkflowStub:
    """Replace a workflow function in a step bundle (see docs/internals.md)."""
    return WorkflowStub(workflow_id, fn)


# -- serialization of step references ------------------------------------------------------


def _step_to_data(step: StepFunction) -> dict[str, Any]:
    return {"id": step.step_id, "closure": step.closure_values()}


def _step_from_data(data: dict[str, Any]) -> StepFunction:
    return StepFunction(str(data["id"]), dict(data.get("closure") or {}))


def _function_to_data(fn: types.FunctionType) -> dict[str, Any]:
    from wdk.runtime._loader import default_project

    step_id = default_project().step_id_of(fn)
    if step_id is None:
        raise SerializationError(
            f"function {fn.__module__}.{fn.__qualname__} is not a step, so it cannot cross a "
            'durable boundary: only functions whose first statement is "use step" can be '
            "passed to or returned from steps and workflows.",
            type_name="function",
        )
    closure: dict[str, Any] = {}
    if fn.__closure__:
        closure = {
            name: cell.cell_contents
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True)
        }
    return {"id": step_id, "closure": closure}


serde.register_ext(StepFunction, "wdk.step", _step_to_data, _step_from_data)
serde.register_ext(types.FunctionType, "wdk.fn", _function_to_data, _step_from_data)
