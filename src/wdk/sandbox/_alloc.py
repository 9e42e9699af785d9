"""Allocation guards: operations of workflow code that would build a huge value are refused.

``"x" * 10**12``, ``bytes(10**12)``, ``10**10**10`` or ``" ".join(...)`` of a billion parts
would take a worker's memory (and its other runs) down with one line. The policy routes the
operations that can build a value much larger than their operands through the guards here,
which estimate the result's size *before* building it and raise
:class:`wdk.AllocationLimitError` at the user's file:line when it is over
:attr:`SandboxConfig.max_allocation`:

================================  ==========================================================
``a * b``, ``a *= b``             ``_mul_(a, b)``: sequence x count (str, bytes, list, tuple,
                                  anything with ``len``), and int x int by bit length
``a ** b``, ``a << b``            ``_pow_`` / ``_lshift_``: the result's bits from the operands
``"%*d" % args`` (literal format)  ``_fmt_mod_``: field widths and precisions
``f"{x:{w}}"``                    ``_spec_(w)``: a computed width or precision
``range bytes bytearray pow sum``  ``_callee_(f)(...)``: called by these names
``format``
``s.join s.ljust s.rjust``        ``_callee_(s.join)(...)``: called as methods of str,
``s.center s.zfill s.expandtabs``  bytes and bytearray (``to_bytes`` of int; ``comb``,
``s.replace n.to_bytes``          ``perm``, ``factorial`` of math)
``math.comb/perm/factorial``
================================  ==========================================================

Numbers take a fast path (``float`` operands, small ints): the CPU-bound benchmark multiplies
in its inner loop (docs/benchmarks.md). Sizes are estimates from lengths and item widths (1 byte
per bytes item or ASCII character, up to 4 per other character, 8 per list or tuple item);
what is refused would certainly have been at least that large. A callable reached some other
way (``r = range; r(10**12)``, ``str.join(sep, parts)``) is not guarded: the guards stop
accidents, not deliberate code (see docs/sandbox.md).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from wdk.errors import AllocationLimitError
from wdk.sandbox._errors import where

__all__ = ["ALLOC_GUARD_NAMES", "GUARDED_CALL_NAMES", "GUARDED_METHOD_NAMES", "AllocGuards"]

#: Builtins whose calls by name go through ``_callee_``.
GUARDED_CALL_NAMES = frozenset({"range", "bytes", "bytearray", "pow", "sum", "format"})
#: Method names whose calls (``obj.name(...)``) go through ``_callee_``.
GUARDED_METHOD_NAMES = frozenset(
    {"join", "ljust", "rjust", "center", "zfill", "expandtabs", "replace", "to_bytes",
     "comb", "perm", "factorial"}
)  # fmt: skip
#: The globals the policy's rewrites call.
ALLOC_GUARD_NAMES = ("_mul_", "_pow_", "_lshift_", "_aug_", "_aug_attr_", "_aug_item_",
                     "_fmt_mod_", "_spec_", "_callee_")  # fmt: skip

_SMALL = 1 << 32  # an int below this in magnitude grows a product by at most 4 bytes
_BuiltinMethod = types.BuiltinMethodType
_TEXT = (str, bytes, bytearray)
_FMT = re.compile(rb"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
_SPEC_NUMBER = re.compile(r"\d+")


def _size(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def _itemsize(seq: Any) -> int:
    """Bytes per item of ``seq`` (a lower bound for text with characters beyond ASCII)."""
    kind = type(seq)
    if kind is bytes or kind is bytearray:
        return 1
    if kind is str:
        return 1 if seq.isascii() else (4 if max(seq) > "\uffff" else 2)
    return 8


def _is_count(x: Any) -> bool:
    return isinstance(x, int) or (
        hasattr(type(x), "__index__") and not isinstance(x, float | complex)
    )


class AllocGuards:
    """The allocation guards of one sandbox configuration (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._bits = limit * 8
        self._callees: dict[Any, Callable[..., Any]] = {
            range: self._range,
            bytes: self._bytes_of(bytes),
            bytearray: self._bytes_of(bytearray),
            pow: self._pow_builtin,
            sum: self._sum,
            format: self._format,
        }

    def as_globals(self) -> dict[str, Any]:
        """The names the policy's rewrites call, for a sandbox's base globals."""
        return {
            "_mul_": self._fast_mul(),
            "_pow_": self.pow,
            "_lshift_": self.lshift,
            "_aug_": self.aug,
            "_aug_attr_": self.aug_attr,
            "_aug_item_": self.aug_item,
            "_fmt_mod_": self.fmt_mod,
            "_spec_": self.spec,
            "_callee_": self.callee,
        }

    # -- refusing ------------------------------------------------------------------------
    def _refuse(self, what: str, size: float) -> NoReturn:
        loc = where(2)
        raise AllocationLimitError(
            f"{loc}: {what} would build {_size(size)}, over the workflow allocation limit of "
            f"{_size(self.limit)}. Build large values in a 'use step' function (workflow code "
            "only decides what to do next), or raise the limit ([tool.wdk] max-allocation, "
            "WDK_MAX_ALLOCATION)."
        )

    def _check_repeat(self, seq: Any, count: Any, op: str) -> None:
        n = count.__index__()
        if n <= 1:
            return
        size = len(seq) * n * _itemsize(seq)
        if size > self.limit:
            self._refuse(f"{type(seq).__name__} of length {len(seq)} {op} {n}", size)

    def _check_bits(self, bits: float, what: str) -> None:
        if bits > self._bits:
            self._refuse(what, bits / 8)

    # -- operators -----------------------------------------------------------------------
    def mul(self, a: Any, b: Any) -> Any:
        """``a * b`` once the result is known to fit."""
        ta = type(a)
        if ta is float:
            return a * b
        tb = type(b)
        if tb is float:
            return a * b
        if ta is int and tb is int and (-_SMALL < a < _SMALL or -_SMALL < b < _SMALL):
            return a * b
        self._check_mul(a, b, "*")
        return a * b

    def _fast_mul(self) -> Callable[[Any, Any], Any]:
        """:meth:`mul` as a plain function (no bound-method call: it runs in inner loops)."""
        check = self._check_mul
        small = _SMALL

        def _mul_(a: Any, b: Any) -> Any:
            ta = type(a)
            if ta is float:
                return a * b
            tb = type(b)
            if tb is float:
                return a * b
            if ta is int and tb is int and (-small < a < small or -small < b < small):
                return a * b
            check(a, b, "*")
            return a * b

        return _mul_

    def _check_mul(self, a: Any, b: Any, op: str) -> None:
        if isinstance(a, int) and isinstance(b, int):
            bits = a.bit_length() + b.bit_length()
            self._check_bits(bits, f"int {op} int ({a.bit_length()} x {b.bit_length()} bits)")
        elif hasattr(type(a), "__len__") and _is_count(b) and not isinstance(a, int):
            self._check_repeat(a, b, op)
        elif hasattr(type(b), "__len__") and _is_count(a) and not isinstance(b, int):
            self._check_repeat(b, a, op)

    def _check_pow(self, a: Any, b: Any, op: str) -> None:
        if type(b) is int and b > 64 and isinstance(a, int) and a not in (-1, 0, 1):
            self._check_bits(b * math.log2(abs(a)), f"int {op} {b}")

    def _check_lshift(self, a: Any, b: Any, op: str) -> None:
        if type(b) is int and b > 64 and isinstance(a, int) and a:
            self._check_bits(a.bit_length() + b, f"int {op} {b}")

    def pow(self, a: Any, b: Any) -> Any:
        """``a ** b`` once the result is known to fit."""
        self._check_pow(a, b, "**")
        return a**b

    def lshift(self, a: Any, b: Any) -> Any:
        """``a << b`` once the result is known to fit."""
        self._check_lshift(a, b, "<<")
        return a << b

    def aug(self, target: Any, op: str, value: Any) -> Any:
        """``target op= value`` for ``*=``, ``**=``, ``<<=`` (in place where Python is)."""
        if op == "*":
            self._check_mul(target, value, "*=")
            target *= value
        elif op == "**":
            self._check_pow(target, value, "**=")
            target **= value
        else:
            self._check_lshift(target, value, "<<=")
            target <<= value
        return target

    def aug_attr(self, obj: Any, name: str, op: str, value: Any) -> None:
        """``obj.name op= value`` (``obj`` already passed the write guard)."""
        setattr(obj, name, self.aug(getattr(obj, name), op, value))

    def aug_item(self, obj: Any, key: Any, op: str, value: Any) -> None:
        """``obj[key] op= value`` (``obj`` already passed the write guard)."""
        obj[key] = self.aug(obj[key], op, value)

    def fmt_mod(self, fmt: Any, args: Any) -> Any:
        """``fmt % args`` for a literal format: widths and precisions are checked first."""
        raw = fmt.encode("utf-8", "surrogatepass") if isinstance(fmt, str) else fmt
        values = args if isinstance(args, tuple) else (args,)
        index = 0
        total = len(raw)
        for m in _FMT.finditer(raw):
            for part in (m.group(1), m.group(2)):
                if part == b"*":
                    width = values[index] if index < len(values) else 0
                    index += 1
                elif part:
                    width = int(part)
                else:
                    continue
                if isinstance(width, int) and width > 0:
                    total += width
            if m.group(3) != b"%":
                index += 1
        if total > self.limit:
            self._refuse(f"a %-format with field widths of {total} characters", total)
        return fmt % args

    def spec(self, value: Any) -> Any:
        """A computed part of an f-string format spec (``f"{x:{width}}"``)."""
        if isinstance(value, int) and value > self.limit:
            self._refuse(f"a format width of {value}", value)
        if isinstance(value, str):
            self._check_spec(value)
        return value

    def _check_spec(self, spec: Any) -> None:
        if isinstance(spec, str):
            for number in _SPEC_NUMBER.findall(spec):
                if len(number) > 18 or int(number) > self.limit:
                    self._refuse(f"a format width of {number}", int(number))

    # -- calls ---------------------------------------------------------------------------
    def callee(self, fn: Any) -> Any:
        """``fn`` itself, or a checking wrapper when it is one of the guarded builtins."""
        if type(fn) is _BuiltinMethod:
            owner = fn.__self__
            kind = type(owner)
            if kind is str or kind is bytes or kind is bytearray:
                return self._text_method(owner, fn)
            if kind is int and fn.__name__ == "to_bytes":
                return self._to_bytes(fn)
            if kind is types.ModuleType and owner is math:
                return self._math(fn)
        try:
            return self._callees.get(fn, fn)
        except TypeError:  # unhashable
            return fn

    def _range(self, *args: Any) -> range:
        r = range(*args)
        try:
            n = len(r)
        except OverflowError:
            n = 1 << 64
        if n * 8 > self.limit:
            self._refuse(f"range() of {n} items (as a list)", n * 8)
        return r

    def _bytes_of(self, kind: type) -> Callable[..., Any]:
        def make(*args: Any, **kwargs: Any) -> Any:
            if args and not isinstance(args[0], (str, bytes, bytearray)) and _is_count(args[0]):
                n = args[0].__index__()
                if n > self.limit:
                    self._refuse(f"{kind.__name__}({n})", n)
            return kind(*args, **kwargs)

        return make

    def _pow_builtin(self, base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            self._check_pow(base, exp, "pow()")
            return pow(base, exp)
        return pow(base, exp, mod)

    def _sum(self, iterable: Iterable[Any], /, start: Any = 0) -> Any:
        if not hasattr(type(start), "__len__"):
            return sum(iterable, start)
        parts = self._collect(iterable, len(start) * _itemsize(start), "sum() of sequences")
        return sum(parts, start)

    def _collect(self, iterable: Iterable[Any], total: int, what: str) -> list[Any]:
        """The items of ``iterable``, refused as soon as their lengths add up over the limit."""
        parts = []
        for part in iterable:
            parts.append(part)
            total += 8 + (len(part) * _itemsize(part) if hasattr(type(part), "__len__") else 0)
            if total > self.limit:
                self._refuse(f"{what} (at least {len(parts)} parts so far)", total)
        return parts

    def _format(self, value: Any, spec: Any = "") -> str:
        self._check_spec(spec)
        return format(value, spec)

    def _text_method(self, owner: Any, fn: Any) -> Any:
        name = fn.__name__
        width = _itemsize(owner) if type(owner) is str else 1
        limit = self.limit

        if name == "join":

            def join(parts: Iterable[Any]) -> Any:
                items = self._collect(parts, 0, f"{type(owner).__name__}.join()")
                size = sum(len(p) for p in items if hasattr(type(p), "__len__"))
                size += len(owner) * max(0, len(items) - 1)
                if size * width > limit:
                    self._refuse(f"{type(owner).__name__}.join() of {len(items)} parts", size)
                return fn(items)

            return join
        if name in ("ljust", "rjust", "center", "zfill"):

            def pad(n: Any, *args: Any) -> Any:
                if _is_count(n) and n.__index__() * width > limit:
                    self._refuse(f"{type(owner).__name__}.{name}({n})", n.__index__() * width)
                return fn(n, *args)

            return pad
        if name == "expandtabs":

            def expand(tabsize: Any = 8) -> Any:
                tab = "\t" if type(owner) is str else b"\t"
                if _is_count(tabsize):
                    size = (len(owner) + owner.count(tab) * tabsize.__index__()) * width
                    if size > limit:
                        self._refuse(f"{type(owner).__name__}.expandtabs({tabsize})", size)
                return fn(tabsize)

            return expand
        if name == "replace":

            def replace(old: Any, new: Any, count: Any = -1) -> Any:
                if len(new) > len(old) and len(owner) * width > 0:
                    hits = owner.count(old)
                    if _is_count(count) and count.__index__() >= 0:
                        hits = min(hits, count.__index__())
                    size = (len(owner) + hits * (len(new) - len(old))) * width
                    if size > limit:
                        self._refuse(f"{type(owner).__name__}.replace() x {hits}", size)
                return fn(old, new, count)

            return replace
        return fn

    def _to_bytes(self, fn: Any) -> Callable[..., Any]:
        def to_bytes(length: Any = 1, *args: Any, **kwargs: Any) -> Any:
            if _is_count(length) and length.__index__() > self.limit:
                self._refuse(f"int.to_bytes({length})", length.__index__())
            return fn(length, *args, **kwargs)

        return to_bytes

    def _math(self, fn: Any) -> Any:
        name = fn.__name__
        if name == "factorial":

            def factorial(n: Any) -> Any:
                if _is_count(n) and n.__index__() > 2:
                    k = n.__index__()
                    self._check_bits(k * math.log2(k), f"math.factorial({k})")
                return fn(n)

            return factorial
        if name in ("comb", "perm"):

            def choose(n: Any, k: Any = None) -> Any:
                if _is_count(n) and n.__index__() > 2 and (k is None or _is_count(k)):
                    nn = n.__index__()
                    kk = nn if k is None else k.__index__()
                    if name == "comb":
                        kk = min(kk, nn - kk)
                    self._check_bits(max(0, kk) * math.log2(nn), f"math.{name}({nn}, {kk})")
                return fn(n) if k is None else fn(n, k)

            return choose
        return fn
