"""Run-time guards the restricted code calls: ``_getattr_``, ``_write_`` and their builtins.

``_getattr_`` is builtin ``getattr`` plus three refusals: names starting with ``_`` (other than
the allowed protocol dunders) and the inspect attributes, module objects that are not
allow-listed (as the object or as the value), and ``str.format``/``format_map``, which are
replaced by a formatter that resolves ``{0.attr}`` fields through the same guard. A missing
attribute raises ``AttributeError`` (RestrictedPython's ``safer_getattr`` returns None).

``_write_`` decides which objects workflow code may modify: containers, instances of classes
that are not library classes, and classes defined in workflow code (marked by the sandbox's
``__build_class__``). Modules and everything else shared across runs (``math.pi``,
``decimal.getcontext().prec``, a library class) are refused, since a write there would leak
into every later run in the process.
"""

from __future__ import annotations

import collections
import string
import types
from collections.abc import Callable, Mapping
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from wdk.sandbox._errors import refuse
from wdk.sandbox._policy import ALLOWED_DUNDER_ATTRS

__all__ = ["SANDBOX_CLASS_MARK", "Guards", "check_attr_name"]

#: Set (to True) in the ``__dict__`` of every class created by workflow code.
SANDBOX_CLASS_MARK = "__wdk_sandbox_class__"

_ModuleType = types.ModuleType

#: Types whose instances workflow code may always modify (they hold no shared state).
_WRITABLE_TYPES: frozenset[type] = frozenset(
    {
        dict,
        list,
        set,
        bytearray,
        collections.OrderedDict,
        collections.defaultdict,
        collections.Counter,
        collections.deque,
        collections.ChainMap,
        collections.UserDict,
        collections.UserList,
    }
)

_STEP_HINT = "do it in a 'use step' function"


def check_attr_name(name: Any) -> None:
    """Refuse attribute names workflow code may not use dynamically (``getattr(x, name)``)."""
    if type(name) is not str:
        raise TypeError(f"attribute name must be a string, not {type(name).__name__}")
    if name.startswith("_") and name not in ALLOWED_DUNDER_ATTRS:
        refuse(
            f"the attribute {name!r} is not allowed in workflow code: names starting with '_' "
            "reach interpreter and library internals. Use the public API, or "
            f"{_STEP_HINT}."
        )
    if name in INSPECT_ATTRIBUTES:
        refuse(
            f"the attribute {name!r} is not allowed in workflow code: frames and code objects "
            "are interpreter internals."
        )


class _GuardedFormatter(string.Formatter):
    """``str.format`` whose ``{0.attr}``/``{0[key]}`` fields go through the sandbox's guard."""

    def __init__(self, getattr_: Callable[[Any, str], Any]) -> None:
        self._getattr = getattr_

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = _formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = self._getattr(obj, key) if is_attr else obj[key]
        return obj, first


def _formatter_field_name_split(field_name: str) -> tuple[Any, Any]:
    import _string  # type: ignore[import-not-found]

    return _string.formatter_field_name_split(field_name)  # type: ignore[no-any-return]


class Guards:
    """The guard functions of one sandbox configuration (shared by all its runs)."""

    def __init__(
        self,
        allowed_modules: frozenset[str],
        module_view: Callable[[types.ModuleType], types.ModuleType],
        library_roots: frozenset[str],
    ) -> None:
        self.allowed_modules = allowed_modules
        self._module_view = module_view
        self.library_roots = library_roots
        self._formatter = _GuardedFormatter(self.getattr_raise)

    # -- modules -------------------------------------------------------------------------
    def check_module(self, mod: types.ModuleType, how: str) -> types.ModuleType:
        """The sandbox's view of ``mod`` if it is allow-listed; SandboxError otherwise."""
        name = getattr(mod, "__name__", "?")
        if getattr(mod, "__wdk_view__", False):
            return mod
        if name in self.allowed_modules:
            return self._module_view(mod)
        refuse(
            f"{how} is the module {name!r}, which workflow code may not use (it is not on the "
            f"sandbox allow-list): {_STEP_HINT}, or allow the module in pyproject.toml "
            "[tool.wdk] sandbox-allowed-modules if it is deterministic."
        )

    # -- reads ---------------------------------------------------------------------------
    def getattr_(self, obj: Any, name: str) -> Any:
        """The ``_getattr_`` guard: ``obj.name`` for names that need a run-time check."""
        if isinstance(obj, _ModuleType) and not getattr(obj, "__wdk_view__", False):
            obj = self.check_module(obj, "this object")
        if name in ("format", "format_map") and (
            isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
        ):
            return self._format_method(obj, name)
        value = getattr(obj, name)
        if isinstance(value, _ModuleType):
            return self.check_module(value, f"{type(obj).__name__}.{name}")
        return value

    def getattr_raise(self, obj: Any, name: str) -> Any:
        """``getattr(obj, name)`` with the name checked (what format fields use)."""
        check_attr_name(name)
        return self.getattr_(obj, name)

    def getattr_builtin(self, obj: Any, name: str, *default: Any) -> Any:
        """The ``getattr`` builtin of workflow code: checked name, raising or defaulted."""
        if len(default) > 1:
            raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
        check_attr_name(name)
        try:
            return self.getattr_(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise

    def _format_method(self, obj: Any, name: str) -> Callable[..., str]:
        fmt = self._formatter
        if isinstance(obj, str):
            template = obj
            if name == "format":
                return lambda *args, **kwargs: fmt.vformat(template, args, kwargs)
            return lambda mapping: fmt.vformat(template, (), mapping)
        if name == "format":
            return lambda template, *args, **kwargs: fmt.vformat(template, args, kwargs)
        return lambda template, mapping: fmt.vformat(template, (), mapping)

    def attrgetter(self, *names: str) -> Callable[[Any], Any]:
        """``operator.attrgetter`` resolving each dotted part through the guard."""
        for name in names:
            if type(name) is not str:
                raise TypeError("attribute name must be a string")
            for part in name.split("."):
                check_attr_name(part)
        paths = [name.split(".") for name in names]
        getattr_ = self.getattr_

        def get(obj: Any) -> Any:
            results = []
            for path in paths:
                value = obj
                for part in path:
                    value = getattr_(value, part)
                results.append(value)
            return results[0] if len(results) == 1 else tuple(results)

        return get

    def methodcaller(self, name: str, /, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """``operator.methodcaller`` with the method name checked."""
        check_attr_name(name)
        getattr_ = self.getattr_
        return lambda obj: getattr_(obj, name)(*args, **kwargs)

    # -- writes --------------------------------------------------------------------------
    def write(self, obj: Any) -> Any:
        """The ``_write_`` guard: ``obj`` if workflow code may modify it; SandboxError if not."""
        if type(obj) in _WRITABLE_TYPES:
            return obj
        if isinstance(obj, _ModuleType):
            name = getattr(obj, "__name__", "?")
            refuse(
                f"modifying the module {name!r} is not allowed in workflow code: modules are "
                "shared by every run in the process. Keep the value in a variable of your own."
            )
        if isinstance(obj, type):
            if obj.__dict__.get(SANDBOX_CLASS_MARK):
                return obj
            refuse(
                f"modifying the class {obj.__qualname__!r} is not allowed in workflow code: it "
                "is shared by every run in the process (only classes defined in workflow code "
                "may be modified)."
            )
        cls = type(obj)
        if getattr(cls, SANDBOX_CLASS_MARK, False):
            return obj
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str):
            module = getattr(cls, "__module__", None) or "builtins"
        root = module.partition(".")[0]
        if root in self.library_roots:
            refuse(
                f"modifying a {cls.__qualname__} object is not allowed in workflow code: "
                f"objects of {root!r} may be shared by every run in the process. Build your "
                "own value instead (for decimal precision use decimal.localcontext())."
            )
        return obj

    def setattr_builtin(self, obj: Any, name: str, value: Any) -> None:
        """The ``setattr`` builtin of workflow code."""
        check_attr_name(name)
        setattr(self.write(obj), name, value)

    def delattr_builtin(self, obj: Any, name: str) -> None:
        """The ``delattr`` builtin of workflow code."""
        check_attr_name(name)
        delattr(self.write(obj), name)

    def as_globals(self) -> Mapping[str, Any]:
        """The guard names RestrictedPython's rewritten code looks up in module globals."""
        return {
            "_getattr_": self.getattr_,
            "_write_": _fast_write(self.write),
            # for the policy's inlined container check (``_policy._write_call``)
            "_type_": type,
            "_writable_": _WRITABLE_TYPES,
            "_float_": float,
        }


def _fast_write(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``_write_`` with the common cases (containers, workflow-defined classes) inlined.

    A plain function, not a bound method: it runs for every attribute or item write.
    """
    writable = _WRITABLE_TYPES
    mark = SANDBOX_CLASS_MARK

    def _write_(obj: Any) -> Any:
        t = type(obj)
        if t in writable or getattr(t, mark, False):
            return obj
        return slow(obj)

    return _write_
