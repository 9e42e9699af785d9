"""Classes made at run time, and re-initialising objects: the checks the class statement skips.

The policy checks a ``class`` statement's body at compile time: which dunder methods it may
define (no ``__del__``, ``__getattribute__``, ``__set_name__``, ``__reduce__``, descriptors...),
which names its fields have. A metaclass called with three arguments (``abc.ABCMeta(name,
bases, ns)``, ``typing_extensions.GenericMeta`` which is ``type`` itself, ``enum.EnumMeta``),
``dataclasses.make_dataclass(namespace=...)`` and ``dataclass`` over a class whose
``__annotations__`` were built at run time create classes from a dict no compiler saw. So:

* every metaclass an allowed module exports is replaced in its view by a *stand-in*
  (:func:`guarded_metaclass`): ``isinstance``/``issubclass`` answer as for the real one, a
  one-argument call is ``type(x)``, and a three-argument call checks the namespace with
  :func:`check_namespace` before calling the real metaclass. A class statement naming the
  stand-in (``metaclass=abc.ABCMeta``) gets the real one back in ``__build_class__``;
* ``dataclasses.dataclass``/``make_dataclass`` check field names and namespaces
  (dataclasses generates ``__init__`` source from the field names and ``exec``-s it: a name like
  ``"a=__import__('os')..."`` would be code);
* :func:`check_init_call` refuses ``obj.__init__(...)`` on objects workflow code did not create
  (``decimal.getcontext().__init__(prec=3)`` rewrites the worker's shared context; a step
  proxy re-initialised points at another step).
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable, Mapping
from typing import Any

from wdk.sandbox._errors import refuse
from wdk.sandbox._policy import ALLOWED_METHOD_NAMES

__all__ = [
    "CLASS_NAMESPACE_NAMES",
    "SANDBOX_CLASS_MARK",
    "STAND_IN_MARK",
    "check_member_name",
    "check_namespace",
    "guarded_dataclass",
    "guarded_decorator",
    "guarded_make_dataclass",
    "guarded_metaclass",
    "init_method",
    "guarded_create_model",
    "is_metaclass",
    "is_sandbox_instance",
    "mark_sandbox_class",
    "real_metaclass",
]

#: Set on a stand-in class; its value is the real metaclass.
STAND_IN_MARK = "__wdk_real_metaclass__"

#: Dunder keys a run-time class namespace may hold: the methods a class statement may define,
#: and what the interpreter puts in every class body.
CLASS_NAMESPACE_NAMES: frozenset[str] = ALLOWED_METHOD_NAMES | frozenset(
    {"__module__", "__qualname__", "__doc__", "__annotations__"}
)

#: Set (to True) in the ``__dict__`` of every class created by workflow code.
SANDBOX_CLASS_MARK = "__wdk_sandbox_class__"
_SANDBOX_CLASS_MARK = SANDBOX_CLASS_MARK


def mark_sandbox_class(cls: Any) -> Any:
    """Record that workflow code made ``cls`` (so it may modify it and re-run its ``__init__``)."""
    try:
        type.__setattr__(cls, SANDBOX_CLASS_MARK, True)
    except (TypeError, AttributeError):  # pragma: no cover - an exotic metaclass
        pass
    return cls


def check_member_name(name: Any, what: str) -> None:
    """Refuse a field/member name that is not a plain identifier (or is a dunder)."""
    if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name):
        refuse(
            f"{what} {name!r} is not allowed in workflow code: names of fields and members "
            "made at run time must be identifiers (library code builds source text from them)."
        )
    if name.startswith("__"):
        refuse(
            f"{what} {name!r} is not allowed in workflow code: dunder names reach interpreter "
            "hooks the class statement would refuse. Use a name without leading underscores."
        )


def _snapshot(mapping: Any, what: str) -> dict[Any, Any]:
    """A plain dict copy of ``mapping``, read once.

    Checking a mapping and then handing it on would let a mapping defined in workflow code
    answer the check with one set of keys and the library with another (a ``dict`` subclass
    whose ``__iter__`` hides ``__del__`` from the check while ``type()`` copies it in C).
    """
    if isinstance(mapping, dict):
        return dict(dict.items(mapping))
    if isinstance(mapping, Mapping):
        return {key: mapping[key] for key in list(mapping.keys())}
    refuse(f"{what} must be a dict in workflow code.")


def check_namespace(namespace: Any, what: str) -> dict[Any, Any]:
    """A checked plain-dict copy of a run-time class namespace; pass it on instead.

    Refuses what a class statement could not define (see the module docstring).
    """
    checked = _snapshot(namespace, what)
    for key in checked:
        if type(key) is str and key in CLASS_NAMESPACE_NAMES:
            continue
        if type(key) is not str or not key.isidentifier() or key.startswith("__"):
            refuse(
                f"{what} with {key!r} in the class namespace is not allowed in workflow code: a "
                "class made at run time may define only what a class statement may (no "
                "__del__, __getattribute__, __set_name__, __reduce__, descriptors...). Use a "
                "class statement."
            )
    if "__annotations__" in checked:
        annotations = checked["__annotations__"] = _snapshot(
            checked["__annotations__"], f"{what}: __annotations__"
        )
        for name in annotations:
            check_member_name(name, f"{what}: the annotated field")
    return checked


class _StandInMeta(type):
    """Metaclass of the stand-ins: type checks and calls go to the real metaclass."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, real_metaclass(cls))

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, real_metaclass(cls))

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        real = real_metaclass(cls)
        name = getattr(real, "__qualname__", "type")
        if len(args) == 1 and not kwargs:
            result = type(args[0])
            if issubclass(result, type):
                refuse(
                    f"{name}() of a class is not available in workflow code (a metaclass can "
                    "create classes)."
                )
            return result
        if len(args) != 3:
            raise TypeError(f"{name}() takes 1 or 3 arguments")
        namespace = check_namespace(args[2], f"{name}(...)")
        return mark_sandbox_class(real(args[0], args[1], namespace, **kwargs))


def guarded_metaclass(real: type) -> type:
    """The stand-in for metaclass ``real`` in module views (see the module docstring)."""
    stand_in = _StandInMeta(real.__name__, (), {"__doc__": real.__doc__})
    type.__setattr__(stand_in, STAND_IN_MARK, real)
    stand_in.__qualname__ = real.__qualname__
    stand_in.__module__ = real.__module__
    return stand_in


def real_metaclass(obj: Any) -> Any:
    """The real metaclass behind a stand-in, or ``obj`` itself."""
    if type(obj) is _StandInMeta:
        return type.__getattribute__(obj, STAND_IN_MARK)
    return obj


def is_metaclass(obj: Any) -> bool:
    """Whether ``obj`` is a metaclass or the stand-in of one."""
    return type(obj) is _StandInMeta or (isinstance(obj, type) and issubclass(obj, type))


def is_sandbox_instance(obj: Any) -> bool:
    """Whether ``obj`` is an instance (or a ``super`` of one) of a class workflow code made."""
    if isinstance(obj, super):
        obj = obj.__self__  # type: ignore[attr-defined]
        if isinstance(obj, type):
            return bool(getattr(obj, _SANDBOX_CLASS_MARK, False))
    return bool(getattr(type(obj), _SANDBOX_CLASS_MARK, False))


def init_method(obj: Any, name: str) -> Any:
    """``obj.__init__`` (or ``__post_init__``) for workflow code.

    Bound (``x.__init__``, ``super().__init__``): only on objects of classes workflow code
    defined. Unbound (``Base.__init__``): a function that checks its ``self`` the same way.
    """
    if isinstance(obj, type):
        unbound = getattr(obj, name)
        owner = obj.__qualname__

        def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_sandbox_instance(self):
                _refuse_init(self, f"{owner}.{name}")
            return unbound(self, *args, **kwargs)

        checked.__name__ = name
        checked.__qualname__ = f"{owner}.{name}"
        return checked
    if not is_sandbox_instance(obj):
        _refuse_init(obj, name)
    return getattr(obj, name)


def _refuse_init(obj: Any, what: str) -> None:
    if isinstance(obj, super):
        obj = obj.__self__  # type: ignore[attr-defined]
    cls = obj if isinstance(obj, type) else type(obj)
    refuse(
        f"calling {what}() on a {cls.__module__}.{cls.__qualname__} object is not allowed in "
        "workflow code: re-initialising an object workflow code did not create changes state "
        "shared with the library and with other runs. Create a new object instead."
    )


def guarded_dataclass(real: Callable[..., Any], write: Callable[[Any], Any]) -> Callable[..., Any]:
    """``dataclasses.dataclass`` on classes workflow code may modify, with identifier fields.

    ``dataclass(cls)`` sets ``__init__``, ``__eq__``... on ``cls``: on a library class
    (``dataclass(json.JSONEncoder)``) that would change it for every run in the process.
    """

    def dataclass(cls: Any = None, /, **kwargs: Any) -> Any:
        def wrap(c: Any) -> Any:
            if isinstance(c, type):
                write(c)
                for name in c.__dict__.get("__annotations__", {}):
                    check_member_name(name, "dataclass field")
            return real(c, **kwargs)

        return wrap if cls is None else wrap(cls)

    dataclass.__doc__ = real.__doc__
    return dataclass


def guarded_make_dataclass(real: Callable[..., Any]) -> Callable[..., Any]:
    """``dataclasses.make_dataclass`` refusing dunder field names and namespace hooks."""

    def make_dataclass(cls_name: str, fields: Any, /, *args: Any, **kwargs: Any) -> Any:
        # read once, as plain values: the checked names are the ones the library gets
        fields = [item if type(item) is str else tuple(item) for item in fields]
        for item in fields:
            check_member_name(item if type(item) is str else item[0], "dataclass field")
        namespace = kwargs.get("namespace")
        if namespace is not None:
            kwargs["namespace"] = check_namespace(
                namespace, "dataclasses.make_dataclass(namespace=...)"
            )
        return mark_sandbox_class(real(cls_name, fields, *args, **kwargs))

    make_dataclass.__doc__ = real.__doc__
    return make_dataclass


_CREATE_MODEL_OPTIONS = frozenset(
    {"__config__", "__doc__", "__base__", "__module__", "__cls_kwargs__", "__qualname__"}
)


def guarded_create_model(real: Callable[..., Any]) -> Callable[..., Any]:
    """``pydantic.create_model`` whose ``__validators__``/``__namespace__`` are checked.

    Both are merged into the new class's namespace (``__validators__={'__del__': f}``).
    """

    def create_model(model_name: str, /, **kwargs: Any) -> Any:
        for key, value in list(kwargs.items()):
            if key in ("__validators__", "__namespace__"):
                if value is not None:
                    kwargs[key] = check_namespace(value, f"pydantic.create_model({key}=...)")
            elif key not in _CREATE_MODEL_OPTIONS:
                check_member_name(key, "the pydantic field")
        return mark_sandbox_class(real(model_name, **kwargs))

    create_model.__doc__ = real.__doc__
    return create_model


def guarded_decorator(real: Callable[..., Any], write: Callable[[Any], Any]) -> Callable[..., Any]:
    """A decorator that sets attributes on its argument, refused on library classes/functions.

    ``functools.total_ordering``, ``abc.update_abstractmethods``, ``typing.final``,
    ``typing.no_type_check``, ``typing.runtime_checkable`` write to the class or function they
    decorate; applied to ``json.JSONEncoder`` or ``json.dumps`` that write would be shared by
    every run. Other arguments (a ``property``) pass through as the library handles them.
    """

    def decorator(arg: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(arg, type | types.FunctionType):
            write(arg)
        return real(arg, *args, **kwargs)

    decorator.__name__ = getattr(real, "__name__", "decorator")
    decorator.__doc__ = real.__doc__
    return decorator
