"""Limits on workflow code in the sandbox: the allocation guards and the activation budget.

Allocation: one test per guarded operation, with the limit at 1 MiB and a value a little over it
(2-8 MiB): the refusal names file:line, the operation and the sizes, and ``tracemalloc`` shows
nothing near the value's size was allocated (the guard refused before building it). Values under
the limit, and the in-place semantics of ``*=``, are unchanged.

Budget: a :class:`Limiter` armed by hand (the runtime arms it around each activation) stops
spins in loops, comprehensions and recursion, at the user's line, and stays tripped.
"""

from __future__ import annotations

import ast
import textwrap
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from conftest import make_sandbox
from wdk.errors import AllocationLimitError, BudgetExceededError, SandboxError
from wdk.sandbox import Limiter, SandboxConfig, SliceExpired, load_config
from wdk.sandbox._policy import WorkflowPolicy

MIB = 1 << 20
LIMIT = SandboxConfig().with_limits(max_allocation=MIB).with_disk_cache(False)


def _module(src: str, tmp_path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("config", LIMIT)
    return make_sandbox({"m": src}, tmp_path, **kwargs).import_module("m")


def _refused(expr: str, tmp_path: Path, *, setup: str = "", body: str = "") -> str:
    """Evaluate ``expr`` (after ``body``) in workflow code; return the refusal's message.

    ``setup`` runs when the module is imported, before allocations are traced.
    """
    src = f"import itertools\nimport math\n{setup}\ndef f():\n"
    src += textwrap.indent(body, "    ") + ("\n" if body else "") + f"    return {expr}\n"
    mod = _module(src, tmp_path)
    line = src.count("\n") - (1 if body else 0)
    tracemalloc.start()
    try:
        with pytest.raises(AllocationLimitError) as info:
            mod.f()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'src' / 'm.py'}:{line}: "), message
    assert "over the workflow allocation limit of 1.0 MiB" in message
    assert "'use step' function" in message and "max-allocation" in message
    # The value would be 2 MiB or more; what was allocated stays under the limit.
    assert peak < MIB, f"{peak} bytes were allocated before the refusal"
    return message.split(": ", 1)[1]


@pytest.mark.parametrize(
    ("expr", "setup", "expected"),
    [
        ("'x' * n", "n = 2 * 1024 * 1024", "str of length 1 * 2097152 would build 2.0 MiB"),
        ("n * 'ab'", "n = 2 * 1024 * 1024", "str of length 2 * 2097152 would build 4.0 MiB"),
        ("'é' * n", "n = 1024 * 1024", "str of length 1 * 1048576 would build 2.0 MiB"),
        ("b'x' * n", "n = 2 * 1024 * 1024", "bytes of length 1 * 2097152 would build 2.0 MiB"),
        ("[0] * n", "n = 300_000", "list of length 1 * 300000 would build 2.3 MiB"),
        ("(1, 2) * n", "n = 300_000", "tuple of length 2 * 300000 would build 4.6 MiB"),
        ("f'{s * n}'", "s = 'ab'\nn = 2 * 1024 * 1024", "str of length 2 * 2097152"),
        ("x * x", "x = 7 ** 2_000_000", "int * int (5614710 x 5614710 bits) would build"),
        ("a ** n", "a = 10\nn = 10 ** 7", "int ** 10000000 would build 4.0 MiB"),
        ("10 ** 10 ** 10", "", "int ** 10000000000 would build 3.9 GiB"),
        ("1 << n", "n = 3 * 8 * 1024 * 1024", "int << 25165824 would build 3.0 MiB"),
        ("pow(3, n)", "n = 10 ** 7", "int pow() 10000000 would build 1.9 MiB"),
        ("range(n)", "n = 10 ** 6", "range() of 1000000 items (as a list) would build 7.6 MiB"),
        ("len(range(10 ** 18))", "", "range() of 1000000000000000000 items"),
        ("bytes(n)", "n = 2 * 1024 * 1024", "bytes(2097152) would build 2.0 MiB"),
        ("bytearray(n)", "n = 2 * 1024 * 1024", "bytearray(2097152) would build 2.0 MiB"),
        ("''.join(parts)", "parts = ['x' * 1024] * 2048", "str.join() (at least"),
        ("b'-'.join(itertools.repeat(b'ab', 10 ** 6))", "", "bytes.join() (at least"),
        ("'x'.ljust(n)", "n = 2 * 1024 * 1024", "str.ljust(2097152) would build 2.0 MiB"),
        ("'x'.rjust(n, '-')", "n = 2 * 1024 * 1024", "str.rjust(2097152) would build"),
        ("'x'.center(n)", "n = 2 * 1024 * 1024", "str.center(2097152) would build"),
        ("'1'.zfill(n)", "n = 2 * 1024 * 1024", "str.zfill(2097152) would build"),
        ("'\\t\\t'.expandtabs(n)", "n = 1024 * 1024", "str.expandtabs(1048576) would build"),
        ("s.replace('a', 'b' * 64)", "s = 'a' * 32768", "str.replace() x 32768 would build"),
        ("(1).to_bytes(n, 'big')", "n = 2 * 1024 * 1024", "int.to_bytes(2097152) would build"),
        ("math.factorial(n)", "n = 10 ** 6", "math.factorial(1000000) would build 2.4 MiB"),
        ("math.comb(n, n // 2)", "n = 2 * 10 ** 7", "math.comb(20000000, 10000000) would"),
        ("math.perm(n, n)", "n = 10 ** 6", "math.perm(1000000, 1000000) would build"),
        ("'%*d' % (n, 1)", "n = 2 * 1024 * 1024", "a %-format with field widths of 2097155"),
        ("'%9999999d' % 1", "", "a %-format with field widths of 10000008 characters"),
        ("f'{1:{n}}'", "n = 2 * 1024 * 1024", "a format width of 2097152 would build"),
        ("format(1, '>3000000')", "", "a format width of 3000000 would build"),
        ("sum([[0] * 1000] * 300, [])", "", "sum() of sequences (at least"),
    ],
)
def test_an_allocation_over_the_limit_is_refused_before_it_is_made(
    expr: str, setup: str, expected: str, tmp_path: Path
) -> None:
    assert expected in _refused(expr, tmp_path, setup=setup)


@pytest.mark.parametrize(
    ("stmt", "expected"),
    [
        ("s *= n", "str of length 1 *= 2097152 would build 2.0 MiB"),
        ("s *= 3_000_000", "str of length 1 *= 3000000 would build 2.9 MiB"),
        ("box.s *= n", "str of length 1 *= 2097152"),
        ("d['s'] *= n", "str of length 1 *= 2097152"),
        ("lst[0:1] *= n", "list of length 1 *= 2097152"),
        ("k **= 10 ** 7", "int **= 10000000 would build"),
        ("k <<= 3 * 8 * MIB", "int <<= 25165824 would build"),
    ],
)
def test_augmented_assignment_is_guarded(stmt: str, expected: str, tmp_path: Path) -> None:
    setup = (
        "MIB = 1024 * 1024\nn = 2 * MIB\ns = 'x'\nk = 10\nlst = [0]\nd = {'s': 'x'}\n"
        "class Box:\n    s = 'x'\nbox = Box()\n"
    )
    body = f"global s, k\n{stmt}"
    assert expected in _refused("None", tmp_path, setup=setup, body=body)


def test_values_under_the_limit_and_in_place_semantics_are_unchanged(tmp_path: Path) -> None:
    mod = _module(
        """
        import math

        class Box:
            def __init__(self):
                self.items = [1]

        def f():
            a = [1, 2]
            alias = a
            a *= 2  # in place, as in Python: the alias sees it
            box = Box()
            box.items *= 3
            d = {"k": "ab"}
            d["k"] *= 2
            s = [1, 2, 3]
            s[0:1] *= 2
            n = 5
            n **= 3
            m = 1
            m <<= 10
            return (
                "x" * 1000, [0] * 10, 2.5 * 4, 3 * (1, 2), 2 ** 100, 10 ** -2, 1 << 40,
                pow(2, 10), pow(2, 10 ** 9, 97), len(range(10 ** 5)), bytes(3), bytearray(2),
                "-".join(["a", "b"]), "x".ljust(5), "7".zfill(3), "a\\tb".expandtabs(4),
                "aaa".replace("a", "bb"), (258).to_bytes(2, "big"), math.comb(10, 3),
                math.perm(5), math.factorial(10), "%5d|%-*s|" % (42, 3, "a"),
                f"{3.14159:.{2}f}", format(7, "03"), sum([[1], [2]], []), sum([1, 2, 3]),
                a, alias is a, box.items, d["k"], s, n, m,
            )
        """,
        tmp_path,
    )
    assert mod.f() == (
        "x" * 1000, [0] * 10, 10.0, (1, 2, 1, 2, 1, 2), 2**100, 0.01, 1 << 40,
        1024, pow(2, 10**9, 97), 10**5, b"\0\0\0", bytearray(2),
        "a-b", "x    ", "007", "a   b",
        "bbbbbb", b"\x01\x02", 120,
        120, 3628800, "   42|a  |",
        "3.14", "007", [1, 2], 6,
        [1, 2, 1, 2], True, [1, 1, 1], "abab", [1, 1, 2, 3], 125, 1024,
    )  # fmt: skip


def test_the_limit_is_configurable(tmp_path: Path) -> None:
    src = "def f(n):\n    return len('x' * n)\n"
    small = _module(src, tmp_path, config=LIMIT)
    with pytest.raises(AllocationLimitError):
        small.f(2 * MIB)
    (tmp_path / "big").mkdir()
    big = _module(src, tmp_path / "big", config=LIMIT.with_limits(max_allocation=4 * MIB))
    assert big.f(2 * MIB) == 2 * MIB
    assert issubclass(AllocationLimitError, SandboxError)


# -- the budget ----------------------------------------------------------------------------
SPINS = """
import itertools

def spin_while():
    while True:
        pass

def spin_for():
    total = 0
    for i in itertools.count():
        total += i

def spin_comprehension():
    return sum(1 for _ in itertools.count())

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def spin_recursion():
    return fib(100)

def spin_lambda():
    f = lambda n: n if n < 2 else f(n - 1) + f(n - 2)
    return f(100)

def spin_caught():
    for _ in range(5):
        try:
            while True:
                pass
        except Exception:
            pass
    return "survived"
"""


@pytest.mark.parametrize(
    ("func", "text"),
    [
        ("spin_while", "        pass"),
        ("spin_for", "        total += i"),
        ("spin_comprehension", "    return sum(1 for _ in itertools.count())"),
        ("spin_recursion", "    return n if n < 2"),
        ("spin_lambda", "    f = lambda n"),
        # the spin's error is caught; the check at the top of the ``for`` body raises again
        ("spin_caught", "        try:"),
    ],
)
def test_an_armed_budget_stops_a_spin_at_the_users_line(
    func: str, text: str, tmp_path: Path
) -> None:
    lines = SPINS.split("\n")
    start = lines.index(f"def {func}():")
    line = 1 + next(
        i
        for i in range(len(lines))
        if lines[i].startswith(text) and (i >= start or func in ("spin_recursion",))
    )
    limiter = Limiter(0.2)
    mod = _module(SPINS, tmp_path, limiter=limiter)
    limiter.arm()
    try:
        with pytest.raises(BudgetExceededError) as info:
            getattr(mod, func)()
    finally:
        limiter.disarm()
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'src' / 'm.py'}:{line}: workflow code ran "), message
    assert "over its budget of 0.2 s, and was stopped here" in message
    assert "WDK_WORKFLOW_BUDGET" in message
    # Tripped for good: the next activation of this run is refused at once.
    assert limiter.tripped is not None
    limiter.arm()
    with pytest.raises(BudgetExceededError):
        mod.spin_while()
    limiter.disarm()


def test_an_unarmed_or_disabled_budget_never_stops_code(tmp_path: Path) -> None:
    src = "def count(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n"
    assert _module(src, tmp_path).count(1000) == 499500  # a sandbox's own limiter: unarmed
    limiter = Limiter(0)  # a budget of 0 turns the check off
    (tmp_path / "b").mkdir()
    mod = _module(src, tmp_path / "b", limiter=limiter)
    limiter.arm()
    assert mod.count(1000) == 499500 and limiter.ok


def test_a_slice_of_the_loop_thread_unwinds_with_a_control_signal(tmp_path: Path) -> None:
    limiter = Limiter(60, slice_s=0.05, slice_thread=threading.get_ident())
    mod = _module(SPINS, tmp_path, limiter=limiter)
    limiter.arm()
    try:
        with pytest.raises(SliceExpired):  # not an Exception: `except Exception` cannot stop it
            mod.spin_caught()
    finally:
        limiter.disarm()
    assert limiter.tripped is None and not issubclass(SliceExpired, Exception)

    # In another thread the slice does not apply: only the budget does.
    other = Limiter(0.2, slice_s=0.01, slice_thread=threading.get_ident())
    (tmp_path / "t").mkdir()
    spin = _module(SPINS, tmp_path / "t", limiter=other).spin_while
    errors: list[BaseException] = []

    def run() -> None:
        other.arm()
        try:
            spin()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)
        finally:
            other.disarm()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert [type(e) for e in errors] == [BudgetExceededError]


def test_the_policy_inserts_the_checks_and_guards() -> None:
    src = textwrap.dedent(
        """
        def total(self):
            return self.price * self.qty

        def f(xs, n):
            for x in xs:
                g(x)
            while n:
                n -= 1
            return [y * 2.0 for y in xs], "-".join(xs), 2 ** n
        """
    )
    tree = ast.parse(src)
    WorkflowPolicy([], [], {}).visit(tree)
    check = "_wdk_limit_.ok or _wdk_limit_.stop()"
    assert ast.unparse(tree) == textwrap.dedent(
        f"""\
        def total(self):
            return _mul_(self.price, self.qty)

        def f(xs, n):
            {check}
            for x in xs:
                {check}
                g(x)
            while n:
                {check}
                n -= 1
            return ([y * 2.0 for y in xs if {check}], _callee_('-'.join)(xs), _pow_(2, n))"""
    )


# -- configuration -------------------------------------------------------------------------
def test_limits_from_pyproject_and_environment(tmp_path: Path) -> None:
    assert load_config(tmp_path, environ={}).workflow_budget_s == 5.0
    assert load_config(tmp_path, environ={}).max_allocation == 64 * MIB
    (tmp_path / "pyproject.toml").write_text(
        '[tool.wdk]\nworkflow-budget = "2.5s"\nmax-allocation = "16MiB"\n'
    )
    cfg = load_config(tmp_path, environ={})
    assert (cfg.workflow_budget_s, cfg.max_allocation) == (2.5, 16 * MIB)
    env = {"WDK_WORKFLOW_BUDGET": "0.5", "WDK_MAX_ALLOCATION": "1000000"}
    cfg = load_config(tmp_path, environ=env)
    assert (cfg.workflow_budget_s, cfg.max_allocation) == (0.5, 1_000_000)
    assert load_config(tmp_path, environ={"WDK_WORKFLOW_BUDGET": "0"}).workflow_budget_s == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WDK_WORKFLOW_BUDGET": "soon"}, "WDK_WORKFLOW_BUDGET: 'soon' is not a duration"),
        ({"WDK_MAX_ALLOCATION": "lots"}, "WDK_MAX_ALLOCATION: 'lots' is not a size"),
        ({"WDK_MAX_ALLOCATION": "64 parsecs"}, "unit: B, kB, MB, GB, KiB, MiB, GiB"),
    ],
)
def test_a_bad_limit_says_where_and_how(env: dict[str, str], expected: str, tmp_path: Path):
    with pytest.raises(ValueError, match=expected):
        load_config(tmp_path, environ=env)


def test_inlined_write_checks_keep_the_write_rules(tmp_path: Path) -> None:
    """The policy inlines ``_write_`` for names; what may be modified is unchanged."""
    mod = _module(
        """
        import decimal
        import math

        class Point:
            pass

        def allowed():
            d = {}
            d["k"] = 1
            items = [0]
            items[0] = 2
            p = Point()
            p.x = 3
            Point.label = "pt"
            return d, items, p.x, Point.label

        def library_object():
            ctx = decimal.getcontext()
            ctx.prec = 5

        def module_view():
            m = math
            m.pi = 3
        """,
        tmp_path,
    )
    assert mod.allowed() == ({"k": 1}, [2], 3, "pt")
    with pytest.raises(SandboxError, match="is not allowed in workflow code"):
        mod.library_object()
    with pytest.raises(SandboxError, match="modifying the module 'math' is not allowed"):
        mod.module_view()
