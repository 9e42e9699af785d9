"""The restricted-compile policy for workflow code: a ``RestrictingNodeTransformer`` subclass.

Deny by default, as RestrictedPython does: an AST node without a ``visit_`` method is refused,
so syntax added by a future Python stays out until someone reviews it. Every node this policy
allows or rewrites differently from the stock transformer has its own ``visit_`` method whose
docstring shows the rewrite.

What differs from stock RestrictedPython, and why:

* ``async def``, ``await``, ``async for``, ``async with`` and async comprehensions are allowed
  (the stock policy refuses them; workflows are coroutines).
* Attribute *reads* are left as plain ``LOAD_ATTR`` unless the name needs a run-time check
  (:data:`CHECKED_NAMES`, e.g. ``str.format``): names starting with ``_`` and the inspect
  attributes (``gi_frame``, ``f_globals``...) are refused at compile time, and module objects
  reach workflow code only as sanitized views (``_imports.py``) that cannot hand out a
  non-allow-listed module. Routing every read through ``_getattr_`` (the stock design, and
  :attr:`SandboxConfig.guard_all_attributes`) measured 4.6x plain Python on an attribute- and
  dict-heavy loop; this layout measures about 1.1x (bench/bench_sandbox.py).
* ``for`` targets, unpacking, subscripts and ``*args`` calls are not wrapped in
  ``_getiter_``/``_getitem_``/``_apply_``: those hooks exist for Zope's per-object security,
  and here no capability can come out of an iteration or an item that did not already pass an
  import or attribute check. This also makes ``sorted``/``zip``/``tuple`` safe to provide
  (RestrictedPython 9 dropped them because they iterate in C around ``_getiter_``).
* Augmented assignment of attributes and items is allowed through the write guard:
  ``obj.x += 1`` becomes ``_write_(obj).x += 1`` (``obj`` is evaluated once, as in Python).
* ``print`` is a plain builtin routed to the run's log (no ``_print_`` collector).
* Names starting with ``__wdk_`` (injected by the runtime, e.g. ``__wdk_step__``) are allowed;
  a class body may define the usual dunder protocol methods (``__await__``, ``__aiter__``,
  ``__aenter__``, ``__repr__``...) but not ``__del__`` (it would run at a GC-chosen moment).
* String annotations are parsed and checked like code (``x: "().__class__"`` is refused), and
  replaced by the checked text, because pydantic and ``typing`` ``eval`` them.
* ``nonlocal`` is allowed (names are checked like any other); ``match`` and ``try/except*``
  stay refused.
* Limits (``_limits.py``, ``_alloc.py``): every loop body, comprehension clause and function
  body that makes a call starts with the activation-budget check
  ``_wdk_limit_.ok or _wdk_limit_.stop()``; ``*``, ``**``, ``<<`` (and their augmented forms),
  ``%`` on a literal format, computed f-string format specs and calls of the builtins and
  methods that can build a huge value go through the allocation guards (``_mul_(a, b)``,
  ``_callee_(s.join)(parts)``...).
"""

from __future__ import annotations

import ast
from typing import Any

from RestrictedPython.transformer import (
    ALLOWED_FUNC_NAMES,
    INSPECT_ATTRIBUTES,
    RestrictingNodeTransformer,
    copy_locations,
)

from wdk.sandbox._alloc import GUARDED_CALL_NAMES, GUARDED_METHOD_NAMES
from wdk.sandbox._limits import LIMIT_NAME

__all__ = [
    "ALLOWED_DUNDER_ATTRS",
    "ALLOWED_METHOD_NAMES",
    "CHECKED_NAMES",
    "POLICY_VERSION",
    "StrictWorkflowPolicy",
    "WorkflowPolicy",
]

#: Bumped whenever the rewrite changes, so cached code compiled by an older policy is not reused.
POLICY_VERSION = "wdk-sandbox-policy-3"

#: Dunder methods a class body may define (on top of RestrictedPython's ``__init__``/compare).
ALLOWED_METHOD_NAMES: frozenset[str] = ALLOWED_FUNC_NAMES | frozenset(
    {
        "__new__", "__post_init__", "__repr__", "__str__", "__format__", "__bool__",
        "__hash__", "__len__", "__iter__", "__next__", "__reversed__", "__contains__",
        "__getitem__", "__setitem__", "__delitem__", "__missing__", "__getattr__", "__call__",
        "__await__", "__aiter__", "__anext__", "__aenter__", "__aexit__", "__enter__",
        "__exit__", "__copy__", "__deepcopy__", "__index__", "__int__", "__float__",
        "__round__", "__neg__", "__pos__", "__abs__", "__invert__",
        "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__",
        "__mul__", "__rmul__", "__imul__", "__matmul__", "__rmatmul__",
        "__truediv__", "__rtruediv__", "__itruediv__", "__floordiv__", "__rfloordiv__",
        "__mod__", "__rmod__", "__pow__", "__rpow__", "__divmod__",
        "__and__", "__rand__", "__or__", "__ror__", "__ior__", "__xor__", "__rxor__",
        "__lshift__", "__rshift__",
    }
)  # fmt: skip

#: Dunder attributes workflow code may read: protocol methods for delegation and
#: ``super().__init__(...)``, and names. Nothing that leads to a frame, globals, a code object,
#: the class graph (``__class__``, ``__mro__``, ``__subclasses__``) or a write around
#: ``_write_`` (``__setitem__``, ``__setattr__``).
ALLOWED_DUNDER_ATTRS: frozenset[str] = frozenset(
    {
        "__init__", "__post_init__", "__name__", "__qualname__", "__doc__",
        "__await__", "__aiter__", "__anext__", "__aenter__", "__aexit__",
        "__enter__", "__exit__", "__iter__", "__next__", "__str__", "__repr__",
        "__len__", "__contains__", "__getitem__", "__eq__", "__ne__", "__lt__",
        "__le__", "__gt__", "__ge__",
    }
)  # fmt: skip

#: Attribute names whose value depends on the object in a way the sandbox must check at run
#: time: ``str.format``/``format_map`` traverse attributes named in the format string, and an
#: ``AttributeError.obj`` may hold any object a library failed on.
CHECKED_NAMES: frozenset[str] = frozenset({"format", "format_map", "obj"})

_READABLE_NAMES = frozenset({"print", "__name__", "__file__"})

_Visit = Any  # what NodeTransformer visit methods return: a node, a list of nodes or None


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _write_call(value: ast.expr) -> ast.expr:
    """``_write_(value)``; for a plain name, with the container case inlined.

    ``d[k] = v`` becomes ``(d if _type_(d) in _writable_ or _type_(d) in _wdk_classes_ else
    _write_(d))[k] = v``: a name can be read twice without a side effect, and writes to dicts,
    lists and instances of the run's own classes in inner loops then cost a type check instead
    of a call (``_type_`` is the real ``type``, ``_writable_`` the container types ``_write_``
    always lets through, ``_wdk_classes_`` the classes the run's class statements made).
    """
    if not isinstance(value, ast.Name):
        return _call("_write_", value)
    tests: list[ast.expr] = [
        ast.Compare(
            _call("_type_", ast.Name(value.id, ast.Load())),
            [ast.In()],
            [ast.Name(kinds, ast.Load())],
        )
        for kinds in ("_writable_", "_wdk_classes_")
    ]
    test = ast.BoolOp(ast.Or(), tests)
    return ast.IfExp(test, ast.Name(value.id, ast.Load()), _call("_write_", value))


def _inline_float_mul(node: ast.BinOp, guarded: ast.expr) -> ast.expr:
    """``a * b`` of plain names: ``(a * b if _type_(a) is _float_ else _mul_(a, b))``.

    Names can be read twice without a side effect; a float operand cannot make a sequence,
    so float arithmetic in inner loops skips the guard's call. Other operands keep the call.
    """
    operands = (node.left, node.right)
    if not all(isinstance(x, ast.Name | ast.Constant) for x in operands):
        return guarded
    name = next((x for x in operands if isinstance(x, ast.Name)), None)
    if name is None:
        return guarded

    def load(x: ast.expr) -> ast.expr:
        return ast.Name(x.id, ast.Load()) if isinstance(x, ast.Name) else x

    test = ast.Compare(_call("_type_", load(name)), [ast.Is()], [ast.Name("_float_", ast.Load())])
    return ast.IfExp(test, ast.BinOp(load(node.left), ast.Mult(), load(node.right)), guarded)


def _budget_check(at: ast.AST) -> ast.expr:
    """``_wdk_limit_.ok or _wdk_limit_.stop()`` at ``at``'s position (see ``_limits.py``)."""
    limit = ast.Name(LIMIT_NAME, ast.Load())
    check = ast.BoolOp(
        ast.Or(),
        [
            ast.Attribute(limit, "ok", ast.Load()),
            ast.Call(ast.Attribute(ast.Name(LIMIT_NAME, ast.Load()), "stop", ast.Load()), [], []),
        ],
    )
    _at_start(check, at)
    return check


def _budget_stmt(at: ast.AST) -> ast.stmt:
    stmt = ast.Expr(_budget_check(at))
    _at_start(stmt, at)
    return stmt


def _at_start(new: ast.AST, at: ast.AST) -> None:
    """Place ``new`` (and its children) at the first position of ``at``.

    Not ``copy_locations``: a multi-line ``at`` would give the check's ``.stop()`` call the
    end line of ``at`` (3.11 places a method call at its attribute's end), and a spin would be
    reported on the wrong line.
    """
    for node in ast.walk(new):
        node.lineno = node.end_lineno = at.lineno  # type: ignore[attr-defined]
        node.col_offset = node.end_col_offset = at.col_offset  # type: ignore[attr-defined]


def _makes_calls(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Call) for sub in ast.walk(node))


def _is_number(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float | complex)
        and not isinstance(node.value, bool)
    )


def _small_int(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value <= 64


#: Guards of binary operators that can build a value much larger than their operands.
_OP_GUARDS: dict[type[ast.operator], tuple[str, str]] = {
    ast.Mult: ("_mul_", "*"),
    ast.Pow: ("_pow_", "**"),
    ast.LShift: ("_lshift_", "<<"),
}


def _needs_op_guard(op: ast.operator, left: ast.expr | None, right: ast.expr) -> bool:
    if isinstance(op, ast.Mult):
        # ``left`` is None for ``x *= right``: the target is unknown, so never "two numbers"
        numbers = left is not None and _is_number(left) and _is_number(right)
        floats = any(
            isinstance(x, ast.Constant) and isinstance(x.value, float) for x in (left, right)
        )
        return not (numbers or floats)
    if isinstance(op, ast.Pow | ast.LShift):
        floats = isinstance(right, ast.Constant) and isinstance(right.value, float)
        return not (_small_int(right) or floats)
    return False


class WorkflowPolicy(RestrictingNodeTransformer):
    """The restricted-compile policy of workflow code (see the module docstring)."""

    #: Route every attribute read through ``_getattr_`` (``StrictWorkflowPolicy``).
    guard_all_attributes = False

    # -- names -------------------------------------------------------------------------
    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        """Allow ``__wdk_*`` names, private names and the dunders of ALLOWED_METHOD_NAMES.

        A private name (``_helper``, ``_cache``) is ordinary Python style, so it is allowed as
        a *name*; names shaped like the guards (``_getattr_``, ``_write_``: leading and
        trailing underscore) and dunders stay refused, so user code cannot rebind a guard.
        Attribute access to ``obj._x`` is still refused (see ``_check_attr``).
        """
        if name is None or name.startswith("__wdk_"):
            return
        if _is_private_name(name) or name == "__all__":  # __all__: a module's export list
            return
        if allow_magic_methods and name in ALLOWED_METHOD_NAMES and node.col_offset != 0:
            return
        if name == "__del__":
            self.error(node, '"__del__" is not allowed: it would run when the GC decides.')
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_Name(self, node: ast.Name) -> _Visit:
        """Check the name; ``print``, ``__name__`` and ``__file__`` may be read.

        Unlike stock, ``print`` stays a plain name (a builtin routed to the run's log).
        """
        if not (node.id in _READABLE_NAMES and isinstance(node.ctx, ast.Load)):
            self.check_name(node, node.id)
        return node

    # -- attributes and items -----------------------------------------------------------
    def _check_attr(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_") and attr != "_" and attr not in ALLOWED_DUNDER_ATTRS:
            self.error(node, f'"{attr}" is an invalid attribute name because it starts with "_".')
        elif attr.endswith("__roles__"):
            self.error(node, f'"{attr}" is an invalid attribute name.')
        elif attr in INSPECT_ATTRIBUTES:
            self.error(node, f'"{attr}" is a restricted name (it reaches interpreter internals).')

    def visit_Attribute(self, node: ast.Attribute) -> _Visit:
        """Check the name; guard reads that need a run-time check, and every write.

        ``a.b`` stays ``a.b`` (``_getattr_(a, "b")`` for :data:`CHECKED_NAMES` or in strict
        mode); ``a.b = c`` becomes ``_write_(a).b = c``; ``del a.b`` becomes
        ``del _write_(a).b``.
        """
        self._check_attr(node)
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            if self.guard_all_attributes or node.attr in CHECKED_NAMES:
                new = _call("_getattr_", node.value, ast.Constant(node.attr))
                copy_locations(new, node)
                return new
            return node
        new_value = _write_call(node.value)
        copy_locations(new_value, node.value)
        node.value = new_value
        return node

    def visit_Subscript(self, node: ast.Subscript) -> _Visit:
        """Reads stay plain; ``a[k] = v`` becomes ``_write_(a)[k] = v`` (and ``del`` likewise)."""
        node = self.node_contents_visit(node)
        if not isinstance(node.ctx, ast.Load):
            new_value = _write_call(node.value)
            copy_locations(new_value, node.value)
            node.value = new_value
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> _Visit:
        """Allow augmented assignment; attribute and item targets go through ``_write_``.

        ``n += 1`` stays; ``o.x += 1`` becomes ``_write_(o).x += 1``; ``d[k] += 1`` becomes
        ``_write_(d)[k] += 1`` (the container is evaluated once, as Python does).

        ``*=``, ``**=`` and ``<<=`` go through the allocation guard: ``s *= n`` becomes
        ``s = _aug_(s, "*", n)`` (in place where Python is), ``o.x *= n`` becomes
        ``_aug_attr_(_write_(o), "x", "*", n)`` and ``d[k] *= n``
        ``_aug_item_(_write_(d), k, "*", n)``.
        """
        target = node.target
        if isinstance(target, ast.Attribute):
            self._check_attr(target)
        node.value = self.visit(node.value)
        if isinstance(target, ast.Name):
            self.check_name(target, target.id)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            target.value = self.visit(target.value)
            if isinstance(target, ast.Subscript):
                target.slice = self.visit(target.slice)
            new_value = _write_call(target.value)
            copy_locations(new_value, target.value)
            target.value = new_value
        else:  # pragma: no cover - the grammar allows no other target
            self.not_allowed(node)
        guard = _OP_GUARDS.get(type(node.op))
        if guard is None or not _needs_op_guard(node.op, None, node.value):
            return node
        op = ast.Constant(guard[1])
        new: ast.stmt
        if isinstance(target, ast.Name):
            load = ast.Name(target.id, ast.Load())
            store = ast.Name(target.id, ast.Store())
            new = ast.Assign([store], _call("_aug_", load, op, node.value))
        elif isinstance(target, ast.Attribute):
            call = _call("_aug_attr_", target.value, ast.Constant(target.attr), op, node.value)
            new = ast.Expr(call)
        else:
            assert isinstance(target, ast.Subscript)
            key = target.slice
            if isinstance(key, ast.Slice):
                none = ast.Constant(None)
                key = _call("slice", key.lower or none, key.upper or none, key.step or none)
            new = ast.Expr(_call("_aug_item_", target.value, key, op, node.value))
        copy_locations(new, node)
        return new

    def visit_AnnAssign(self, node: ast.AnnAssign) -> _Visit:
        """Allow ``x: T = v`` (dataclass and pydantic fields); the annotation is checked.

        ``o.x: T = v`` becomes ``_write_(o).x: T = v``.
        """
        node.annotation = self._annotation(node.annotation)
        node.target = self.visit(node.target)
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    # -- iteration, calls, assignment: no wrappers (see the module docstring) ------------
    def visit_For(self, node: ast.For) -> _Visit:
        """``for x in it`` stays as it is (no ``_getiter_``); the body starts with the budget check.

        ``for x in it: body`` becomes ``for x in it: _wdk_limit_.ok or _wdk_limit_.stop(); body``.
        """
        node = self.node_contents_visit(node)
        if node.body:  # empty only when a refused statement was dropped
            node.body.insert(0, _budget_stmt(node.body[0]))
        return node

    def visit_While(self, node: ast.While) -> _Visit:
        """``while c: body`` becomes ``while c: _wdk_limit_.ok or _wdk_limit_.stop(); body``."""
        node = self.node_contents_visit(node)
        if node.body:  # empty only when a refused statement was dropped
            node.body.insert(0, _budget_stmt(node.body[0]))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> _Visit:
        """``for x in it`` clauses, sync and async, get the budget check as their first ``if``.

        ``[f(x) for x in it]`` becomes ``[f(x) for x in it if _wdk_limit_.ok or ...stop()]``.
        """
        node = self.node_contents_visit(node)
        node.ifs.insert(0, _budget_check(node.iter))
        return node

    def visit_Assign(self, node: ast.Assign) -> _Visit:
        """``a, b = v`` stays as it is (no ``_unpack_sequence_``)."""
        return self.node_contents_visit(node)

    def visit_With(self, node: ast.With) -> _Visit:
        """``with cm as (a, b)`` stays as it is."""
        return self.node_contents_visit(node)

    def visit_Call(self, node: ast.Call) -> _Visit:
        """Calls stay as they are (no ``_apply_`` for ``*args``); ``exec``/``eval`` refused.

        Calls that can build a huge value go through the allocation guard: ``range(n)``
        becomes ``_callee_(range)(n)``, ``sep.join(parts)`` becomes
        ``_callee_(sep.join)(parts)`` (see ``_alloc.py`` for the names).
        """
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("exec", "eval"):
            self.error(node, f"{func.id}() calls are not allowed.")
        node = self.node_contents_visit(node)
        func = node.func
        if (isinstance(func, ast.Name) and func.id in GUARDED_CALL_NAMES) or (
            isinstance(func, ast.Attribute) and func.attr in GUARDED_METHOD_NAMES
        ):
            node.func = _call("_callee_", func)
            copy_locations(node.func, func)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> _Visit:
        """``a * b``, ``a ** b``, ``a << b`` go through the allocation guards.

        ``a * b`` becomes ``_mul_(a, b)`` (not when both are number literals or one is a float
        literal); ``a ** b`` and ``a << b`` become ``_pow_``/``_lshift_`` unless ``b`` is a
        literal up to 64; ``"%*d" % args`` (a literal format) becomes ``_fmt_mod_(fmt, args)``.
        """
        node = self.node_contents_visit(node)
        guard = _OP_GUARDS.get(type(node.op))
        if guard is not None and _needs_op_guard(node.op, node.left, node.right):
            name = guard[0]
        elif (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str | bytes)
            and "%" in str(node.left.value)
        ):
            name = "_fmt_mod_"
        else:
            return node
        new: ast.expr = _call(name, node.left, node.right)
        if name == "_mul_":
            new = _inline_float_mul(node, new)
        copy_locations(new, node)
        return new

    def visit_FormattedValue(self, node: ast.FormattedValue) -> _Visit:
        """Computed parts of a format spec are checked: ``f"{x:{w}}"`` -> ``{x:{_spec_(w)}}``."""
        node = self.node_contents_visit(node)
        spec = node.format_spec
        if isinstance(spec, ast.JoinedStr):
            for part in spec.values:
                if isinstance(part, ast.FormattedValue):
                    part.value = _call("_spec_", part.value)
                    copy_locations(part.value, part)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> _Visit:
        """A lambda whose body makes calls starts with the budget check (see ``_function``)."""
        calls = _makes_calls(node.body)
        new = super().visit_Lambda(node)
        if calls and isinstance(new, ast.Lambda):
            body = new.body
            new.body = ast.BoolOp(ast.And(), [_budget_check(body), body])
            copy_locations(new.body, body)
        return new

    # -- definitions ---------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> _Visit:
        self.check_name(node, node.name, allow_magic_methods=True)
        self.check_function_argument_names(node)
        if node.returns is not None:
            node.returns = self._annotation(node.returns)
        # A function that makes no call cannot recurse, so it needs no check of its own (its
        # loops have theirs): this keeps small methods (``return self.a * self.b``) cheap.
        # Dunder methods and decorated functions are called by Python itself: always checked.
        needs_check = (
            _makes_calls(ast.Module(body=node.body, type_ignores=[]))
            or bool(node.decorator_list)
            or node.name.startswith("__")
        )
        node = self.node_contents_visit(node)
        body = node.body
        if not body:  # a refused statement was dropped: compilation fails anyway
            return node
        first = body[0]
        docstring = (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        )
        if needs_check:
            at = body[1] if docstring and len(body) > 1 else first
            body.insert(1 if docstring else 0, _budget_stmt(at))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> _Visit:
        """Allow ``def`` with checked names and annotations (no print collector)."""
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> _Visit:
        """Allow ``async def``, checked like ``def``."""
        return self._function(node)

    def visit_arg(self, node: ast.arg) -> _Visit:
        """Check a parameter's annotation (string annotations are parsed and checked)."""
        if node.annotation is not None:
            node.annotation = self._annotation(node.annotation)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> _Visit:
        """Allow ``class`` with a checked name; bases and keywords are kept as written.

        Stock RestrictedPython rewrites to ``metaclass=__metaclass__`` and drops other class
        keywords (``class M(BaseModel, frozen=True)``). Classes are recorded by the sandbox's
        ``__build_class__`` instead.

        ``class C: ...`` is followed by ``_note_class_(C)``: the run notes its own classes so
        that writes to their instances skip the ``_write_`` call (see ``_write_call``).
        """
        self.check_name(node, node.name)
        node = self.node_contents_visit(node)
        note = ast.Expr(_call("_note_class_", ast.Name(node.name, ast.Load())))
        _at_start(note, node)
        return [node, note]

    def visit_Module(self, node: ast.Module) -> _Visit:
        """Visit the module (no print collector is injected)."""
        return self.node_contents_visit(node)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> _Visit:
        """Allow ``nonlocal`` of checked names (closures)."""
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Global(self, node: ast.Global) -> _Visit:
        """Allow ``global`` of checked names."""
        for name in node.names:
            self.check_name(node, name)
        return node

    # -- async ---------------------------------------------------------------------------
    def visit_Await(self, node: ast.Await) -> _Visit:
        """Allow ``await x``."""
        return self.node_contents_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> _Visit:
        """Allow ``async for x in it`` as written."""
        return self.node_contents_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> _Visit:
        """Allow ``async with cm as x`` as written."""
        return self.node_contents_visit(node)

    # -- annotations ---------------------------------------------------------------------
    def _annotation(self, node: ast.expr) -> ast.expr:
        """Visit an annotation; string constants in it are parsed, checked and rewritten."""
        node = self.visit(node)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                sub.value = self._string_annotation(sub, sub.value)
        return node

    def _string_annotation(self, node: ast.Constant, text: str) -> str:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            return text  # not an expression: typing treats it as a bad forward ref anyway
        checker = type(self)(warnings=self.warnings)
        checker.visit(tree)
        for err in checker.errors:
            self.error(node, f"in the string annotation {text!r}: {err.partition(': ')[2]}")
        return ast.unparse(tree)


class StrictWorkflowPolicy(WorkflowPolicy):
    """:class:`WorkflowPolicy` with every attribute read routed through ``_getattr_``."""

    guard_all_attributes = True


def _is_private_name(name: str) -> bool:
    """``_helper`` yes; ``__x``, ``_x_`` (guard-shaped) and ``_`` no (``_`` has its own rule)."""
    return len(name) > 1 and name[0] == "_" and name[1] != "_" and not name.endswith("_")
