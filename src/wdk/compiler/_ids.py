"""Stable, readable IDs of workflows and steps (docs/internals.md, "Module paths and IDs").

The runtime computes the same strings from function objects, so these helpers are the one
definition of the format: ``workflow//<relpath>//<qualname>`` and ``step//<relpath>//<qualname>``
where ``relpath`` is the module's path relative to its source root with ``/`` separators and
nested qualnames join with ``/``, static/class methods with ``.`` and instance methods with ``#``.
"""

from __future__ import annotations

__all__ = ["module_relpath", "step_id", "workflow_id"]


def module_relpath(module_name: str, is_package: bool) -> str:
    """The relpath of a module: ``app.orders`` -> ``app/orders.py``, package -> ``__init__.py``.

    Args:
        module_name: The dotted module name.
        is_package: Whether the module is a package (its file is ``__init__.py``).
    """
    base = module_name.replace(".", "/")
    return f"{base}/__init__.py" if is_package else f"{base}.py"


def workflow_id(relpath: str, qualname: str) -> str:
    """``workflow//<relpath>//<qualname>``."""
    return f"workflow//{relpath}//{qualname}"


def step_id(relpath: str, qualname: str) -> str:
    """``step//<relpath>//<qualname>`` (``qualname`` already joined with ``/``, ``.``, ``#``)."""
    return f"step//{relpath}//{qualname}"
