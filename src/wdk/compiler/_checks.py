"""Module-level rules: import-time work, retry settings, workflow-only calls, unique IDs.

What counts as *import-time work* (decided here, documented in docs/compiler.md): a module with
directives is imported afresh inside the sandbox for every workflow run, so its top level may
only *define* things. Allowed top-level statements:

* imports, ``def``, ``class`` (decorators included), ``pass``, docstrings and ``...``;
* assignments (plain, annotated, augmented) to names whose value is *inert*: literals, names,
  attribute access, subscripts, operators, containers, lambdas, conditional expressions, and
  calls only to a short allow-list (anything imported from ``wdk`` such as ``define_hook``,
  ``typing`` constructors, pure builtins like ``frozenset``, ``re.compile``,
  ``logging.getLogger``, ``collections.namedtuple``);
* ``<step>.max_retries = <non-negative int literal>`` and ``<step>.max_delay = <duration
  literal>`` (a number of seconds or a string like ``"30s"``; both recorded in the manifest),
  ``<step>.concurrency = <int literal >= 1>`` and ``<step>.rate = "<count>/<period>"``;
* a bare call of a wdk declaration made for its effect (``schedule(...)``, see
  :data:`_DECLARATIONS`) whose arguments are inert;
* ``if TYPE_CHECKING:`` and ``if __name__ == "__main__":`` blocks (not run on import; bodies
  unchecked); other ``if``/``try`` blocks whose tests and bodies follow these same rules;
* ``raise``, ``del``, ``global`` and ``assert`` on inert expressions.

Everything else (calls, loops, ``with``, ``await``, subscript or attribute assignment) is an
error with a fix-it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from wdk._duration import parse_duration
from wdk.compiler._directives import Site
from wdk.compiler._usage import WATCHED, Usage
from wdk.errors import QueueError
from wdk.worlds._flow import parse_rate

__all__ = ["check_duplicates", "check_module_level", "check_patch_names", "check_step_calls"]

_ALLOWED_CALLS = frozenset(
    {
        "typing.TypeVar",
        "typing.ParamSpec",
        "typing.TypeVarTuple",
        "typing.NewType",
        "typing.NamedTuple",
        "typing.TypedDict",
        "typing.cast",
        "typing_extensions.TypeVar",
        "typing_extensions.ParamSpec",
        "typing_extensions.NewType",
        "typing_extensions.TypedDict",
        "typing_extensions.NamedTuple",
        "re.compile",
        "logging.getLogger",
        "collections.namedtuple",
        "decimal.Decimal",
        "datetime.timedelta",
        "enum.auto",
    }
)
#: wdk calls a module makes at its top level for their effect alone (an expression statement).
#: ``wdk.schedule`` registers with the worker that imports the module and returns at once in
#: the sandbox, so the per-run import there does no work.
_DECLARATIONS = frozenset({"wdk.schedule"})
_PURE_BUILTINS = frozenset(
    {
        "frozenset",
        "set",
        "dict",
        "list",
        "tuple",
        "object",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "complex",
        "range",
        "len",
        "sorted",
        "min",
        "max",
        "sum",
        "abs",
        "TypeVar",
    }
)
_WORK = (
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.NamedExpr,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
_FIX_WORK = (
    "Move it into a step (or a function a step calls): modules with directives are imported "
    "afresh in the sandbox for every run, so their top level may only define things."
)

Report = Callable[[str, ast.AST, str, str], None]


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _origins(body: list[ast.stmt], out: dict[str, str]) -> dict[str, str]:
    """Local name -> dotted origin for imports at module level (also inside if/try)."""
    for stmt in body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    out[head] = head
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            for alias in stmt.names:
                out[alias.asname or alias.name] = f"{stmt.module}.{alias.name}"
        elif isinstance(stmt, ast.If | ast.Try):
            _origins(stmt.body + stmt.orelse, out)
            for handler in getattr(stmt, "handlers", []):
                _origins(handler.body, out)
    return out


class _ModuleRules:
    def __init__(self, sites: list[Site], report: Report, origins: dict[str, str]) -> None:
        self.report = report
        self.origins = origins
        self.steps: dict[str, Site] = {}
        for site in sites:
            if site.kind == "step" and not site.nested:
                self.steps[site.qualname.replace("#", ".")] = site
        #: step qualname -> its literal retry settings (``max_retries``, ``max_delay``)
        self.settings: dict[str, dict[str, int | float]] = {}

    def call_allowed(self, call: ast.Call) -> bool:
        name = _dotted(call.func)
        if name is None:
            return False
        head, _, rest = name.partition(".")
        origin = self.origins.get(head)
        if origin is None:
            return name in _PURE_BUILTINS
        full = f"{origin}.{rest}" if rest else origin
        return full.split(".")[0] == "wdk" or full in _ALLOWED_CALLS

    def declaration(self, expr: ast.expr) -> bool:
        """Whether ``expr`` is a call of one of :data:`_DECLARATIONS`."""
        name = _dotted(expr.func) if isinstance(expr, ast.Call) else None
        if name is None:
            return False
        head, _, rest = name.partition(".")
        origin = self.origins.get(head)
        return origin is not None and (f"{origin}.{rest}" if rest else origin) in _DECLARATIONS

    def inert(self, expr: ast.AST | None) -> ast.AST | None:
        """The first node of ``expr`` that does work, or None."""
        if expr is None:
            return None
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                if not self.call_allowed(node):
                    return node
            elif isinstance(node, _WORK):
                return node
        return None

    def work(self, stmt: ast.stmt, node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            callee = _dotted(node.func) or "a function"
            what = f"calls {callee}() at import time"
        else:
            what = f"runs {type(node).__name__.lower()} code at import time"
        self.report("WDK007", stmt, f"module-level statement {what}", _FIX_WORK)

    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, stmt: ast.stmt) -> None:  # noqa: C901 - one branch per statement kind
        if isinstance(stmt, ast.Import | ast.ImportFrom | ast.Pass | ast.Global | ast.Nonlocal):
            return
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Constant) and (
                isinstance(stmt.value.value, str) or stmt.value.value is Ellipsis
            ):
                return
            found = self.inert(stmt.value)
            if found is None and self.declaration(stmt.value):
                return
            self.work(stmt, found or stmt.value)
            return
        if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and self.retries(stmt, targets[0]):
                return
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Attribute | ast.Subscript):
                        self.report(
                            "WDK007",
                            stmt,
                            "module-level statement mutates an object at import time",
                            _FIX_WORK,
                        )
                        return
            found = self.inert(stmt.value)
            if found is not None:
                self.work(stmt, found)
            return
        if isinstance(stmt, ast.If):
            if _never_on_import(stmt.test):
                return
            test_work = self.inert(stmt.test)
            if test_work is not None:
                self.work(stmt, test_work)
                return
            self.block(stmt.body)
            self.block(stmt.orelse)
            return
        if isinstance(stmt, ast.Try | ast.TryStar):
            self.block(stmt.body)
            for handler in stmt.handlers:
                self.block(handler.body)
            self.block(stmt.orelse)
            self.block(stmt.finalbody)
            return
        if isinstance(stmt, ast.Raise | ast.Delete):
            return
        if isinstance(stmt, ast.Assert):
            assert_work = self.inert(stmt.test) or self.inert(stmt.msg)
            if assert_work is not None:
                self.work(stmt, assert_work)
            return
        kind = type(stmt).__name__.lower().replace("async", "async ")
        self.report(
            "WDK007",
            stmt,
            f"module-level `{kind}` statement runs at import time",
            _FIX_WORK,
        )

    def retries(self, stmt: ast.stmt, target: ast.expr) -> bool:
        """Handle a literal step setting; True when ``stmt`` was one.

        ``<step>.max_retries = <int>``, ``<step>.max_delay = <duration>``,
        ``<step>.concurrency = <int>`` and ``<step>.rate = "<count>/<period>"`` (limits
        enforced fleet-wide, docs/flow-control.md).
        """
        if not (isinstance(target, ast.Attribute) and target.attr in _SETTINGS):
            return False
        attr = target.attr
        owner = _dotted(target.value)
        site = self.steps.get(owner or "")
        if site is None:
            self.report(
                "WDK009",
                stmt,
                f"`{owner or '...'}.{attr}` is set, but {owner or 'it'} is not a step "
                "of this module",
                f'Set {attr} on a function whose first statement is "use step".',
            )
            return True
        value = getattr(stmt, "value", None)
        literal = value.value if isinstance(value, ast.Constant) else None
        if attr == "rate":
            try:
                parse_rate(literal if isinstance(stmt, ast.Assign | ast.AnnAssign) else None)  # type: ignore[arg-type]
            except QueueError as exc:
                self.report(
                    "WDK009",
                    stmt,
                    f"`{owner}.rate` must be a rate literal: {exc}",
                    f'Write `{owner}.rate = "10/s"` (at most 10 calls started per second).',
                )
            return True
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and literal is not None:
            setting = _SETTINGS[attr][0](literal)
            if setting is not None:
                if attr in _RECORDED:
                    self.settings.setdefault(site.qualname, {})[attr] = setting
                return True
        what, fix = _SETTINGS[attr][1:]
        self.report(
            "WDK009",
            stmt,
            f"`{owner}.{attr}` must be set to {what}",
            fix.format(owner=owner),
        )
        return True


def _retries(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _concurrency(value: object) -> int | None:
    return value if type(value) is int and value >= 1 else None


def _delay(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


#: attribute -> (literal -> setting or None, what it must be, the fix-it)
_SETTINGS: dict[str, tuple[Callable[[object], int | float | None], str, str]] = {
    "max_retries": (
        _retries,
        "a non-negative integer literal",
        "Write `{owner}.max_retries = 3` (0 means a single attempt).",
    ),
    "max_delay": (
        _delay,
        'a duration literal: seconds >= 0 or a string like "30s"',
        'Write `{owner}.max_delay = "30s"` (the longest wait between two attempts).',
    ),
    "concurrency": (
        _concurrency,
        "an integer literal >= 1",
        "Write `{owner}.concurrency = 5` (at most 5 calls at once, fleet-wide).",
    ),
    # checked by parse_rate in ModuleRules.retries, for its message
    "rate": (lambda value: None, "a rate literal", 'Write `{owner}.rate = "10/s"`.'),
}
#: the settings recorded in the manifest (the limits travel in the step message's kind)
_RECORDED = frozenset({"max_retries", "max_delay"})


def _never_on_import(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` / ``typing.TYPE_CHECKING`` / ``__name__ == "__main__"``."""
    if _dotted(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
        return True
    return (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and {_dotted(test.left), _dotted(test.comparators[0])} == {"__name__", None}
        and any(
            isinstance(n, ast.Constant) and n.value == "__main__"
            for n in (test.left, test.comparators[0])
        )
    )


def check_module_level(
    tree: ast.Module, sites: list[Site], report: Report
) -> dict[str, dict[str, int | float]]:
    """Report import-time work; return literal retry settings by step qualname."""
    rules = _ModuleRules(sites, report, _origins(tree.body, {}))
    rules.block(tree.body)
    return rules.settings


def _innermost_step(sites: list[Site], line: int) -> Site | None:
    best: Site | None = None
    for site in sites:
        if site.kind == "step" and site.start <= line <= site.end:
            if best is None or site.start >= best.start:
                best = site
    return best


def check_step_calls(usage: Usage, sites: list[Site], report: Report) -> None:
    """Report ``sleep``/``create_hook``/``create_webhook`` from wdk called inside a step."""
    if not usage.wdk_functions and not usage.wdk_modules:
        return
    for call in usage.step_calls:
        func = call.func
        name: str | None = None
        if isinstance(func, ast.Name):
            name = usage.wdk_functions.get(func.id)
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in usage.wdk_modules
            and func.attr in WATCHED
        ):
            name = func.attr
        if name is None:
            continue
        site = _innermost_step(sites, call.lineno)
        where = f"step {site.qualname}" if site else "a step"
        if name in _PATCH_CALLS:
            report(
                "WDK008",
                call,
                f"wdk.{name}() is called inside {where}: patches choose between old and new "
                "workflow code, and a step always runs the current code",
                f"Call {name}() in the workflow and pass what it answered to the step.",
            )
        elif name == "sleep":
            report(
                "WDK008",
                call,
                f"wdk.sleep() is called inside {where}: durable sleep only works in workflow code",
                "Call sleep from the workflow between steps (inside a step, use time.sleep or "
                "asyncio.sleep for a short pause).",
            )
        else:
            report(
                "WDK008",
                call,
                f"wdk.{name}() is called inside {where}: hooks and webhooks can only be "
                "created in workflow code",
                f"Call {name}() in the workflow and pass the token (or URL) to the step.",
            )


_PATCH_CALLS = frozenset({"patched", "deprecate_patch"})


def _wdk_call_name(call: ast.Call, usage: Usage) -> str | None:
    """The wdk function a call names (``patched(...)``, ``wdk.patched(...)``), or None."""
    func = call.func
    if isinstance(func, ast.Name):
        return usage.wdk_functions.get(func.id)
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in usage.wdk_modules
    ):
        return func.attr
    return None


def check_patch_names(tree: ast.Module, usage: Usage, report: Report) -> None:
    """Report ``patched``/``deprecate_patch`` called with anything but one string literal.

    A patch's name is its identity in every run's log: computed names could differ between
    replays, and ``wdk replay`` could not tell which patch a run took.
    """
    if not usage.wdk_functions and not usage.wdk_modules:
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _wdk_call_name(node, usage) not in _PATCH_CALLS:
            continue
        args = node.args
        literal = (
            len(args) == 1
            and not node.keywords
            and isinstance(args[0], ast.Constant)
            and isinstance(args[0].value, str)
            and args[0].value.strip() != ""
        )
        if not literal:
            name = _wdk_call_name(node, usage)
            report(
                "WDK011",
                node,
                f"wdk.{name}() takes the patch's name as one non-empty string literal",
                f'Write the name out: {name}("charge-twice"). A name is a patch\'s identity '
                "in every run's log, so it cannot be computed.",
            )


def check_duplicates(sites: list[Site], relpath: str, report: Report) -> list[Site]:
    """Report a second definition of the same ID; return the sites with unique IDs."""
    seen: dict[str, Site] = {}
    unique: list[Site] = []
    for site in sites:
        first = seen.get(site.qualname)
        if first is None:
            seen[site.qualname] = site
            unique.append(site)
            continue
        ident = f"{site.kind}//{relpath}//{site.qualname}"
        report(
            "WDK006",
            site.node,
            f"duplicate ID {ident}: {site.qualname} is already defined as a {first.kind} "
            f"at line {first.node.lineno}",
            "Rename one of them: every workflow and step needs a unique name in its module.",
        )
    return unique
