"""The sandbox's audit hook: text compiled by library code, and I/O, under workflow code.

The policy and the guards cover what workflow code does itself. Library code it calls can still
turn data into code or touch the host: ``typing`` compiles every forward-reference string
(``List["..."]``, pydantic fields, ``functools.singledispatch`` registration, ``validate_call``)
and later ``eval``-s it with whatever globals it finds, often a real module's, whose builtins
are the real ones. A review of each allowed module finds such paths one by one; the
interpreter's audit events (PEP 578) see all of them at one place. While a frame of workflow
code is on the current thread's stack (:func:`in_workflow_code`), this hook:

* checks the text of every ``compile`` (strings and ASTs): it must be a *type expression*
  (names, dotted names, ``X[...]``, ``X | Y``, literals; no calls, no ``_`` attributes), which
  is all a forward reference needs. Two generators in the standard library compile text built
  from names they validate themselves and are exempt by caller: ``dataclasses`` (field names,
  checked by the sandbox's ``dataclass``/``make_dataclass`` and by the class-body policy) and
  ``collections.namedtuple`` (identifiers only). The sandbox's own compiler and ``ast.parse``
  (which builds a tree, not code) are exempt too. Each dotted name in the text must also
  mean the same in the sandbox and outside it (``_names.py``): libraries evaluate forward
  references in a namespace of their choosing, often the real module's;
* refuses the events of process, file-system, environment, network and interpreter-hook
  operations (``os.system``, ``subprocess.Popen``, ``open``, ``os.putenv``, ``socket.*``,
  ``ctypes.*``, ``sys.settrace``...). This is the backstop: reaching one means some other
  check failed, and the run still fails instead of touching the host. File reads of the import
  system and of ``linecache`` (module source for tracebacks) are allowed.

The hook is installed once per process, when the first sandbox configuration is built (audit
hooks cannot be removed); outside workflow code it returns after a set lookup and one walk of
the stack for the few events it watches.

Failed approach: refusing every ``compile``/``exec`` under workflow code breaks
``@dataclass`` (it ``exec``-s generated ``__init__`` source) and every pydantic model with a
forward reference; checking only literal string annotations at compile time (the policy's
rule) misses strings built at run time.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import os
import sys
import threading
import typing
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from wdk.sandbox._errors import RUN_KEY, refuse
from wdk.sandbox._names import check_names

__all__ = ["IO_EVENTS", "check_type_expression", "install"]

#: Audit events refused outright under workflow code (prefixes end with ".").
IO_EVENTS: frozenset[str] = frozenset(
    {
        "open", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
        "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.putenv", "os.unsetenv",
        "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chdir", "os.chmod", "os.chown",
        "os.truncate", "os.symlink", "os.link", "os.utime", "os.listdir", "os.scandir",
        "os.walk", "os.startfile", "pty.spawn", "webbrowser.open", "urllib.Request",
        "http.client.connect", "sqlite3.connect", "sys.addaudithook", "sys.settrace",
        "sys.setprofile", "sys._current_frames", "code.__new__", "function.__new__",
        "marshal.loads", "marshal.load", "pickle.find_class",
    }
)  # fmt: skip

_IO_PREFIXES = ("socket.", "ctypes.", "shutil.", "winreg.", "msvcrt.", "syslog.")

#: Reading files is what these callers do on every import or traceback; they are not reachable
#: with a path of the workflow's choosing.
_READERS = ("<frozen importlib", "<frozen zipimport")  # also: frames of a module import


def _module_file(mod: Any) -> str:
    return os.path.realpath(str(mod.__file__))


_EXEMPT_COMPILERS: frozenset[str] = frozenset(
    {
        _module_file(dataclasses),
        _module_file(collections),
        _module_file(ast),
        os.path.join(os.path.dirname(os.path.realpath(__file__)), "_cache.py"),
        os.path.join(os.path.dirname(os.path.realpath(__file__)), "_policy.py"),
    }
)
_exempt_seen: dict[str, bool] = {}
#: wdk's own layers that do I/O on behalf of a run (reading a user module's source when workflow
#: code imports it, writing the run's log); workflow code cannot hand them a path.
_RUNTIME_MODULES = ("wdk.runtime.", "wdk.compiler.", "wdk.worlds.", "wdk.serde.")
_TRUSTED_MODULES = frozenset({"importlib", "linecache", "tokenize", "wdk.sandbox._cache"})

_TYPE_NODES = (
    ast.Expression, ast.Module, ast.Expr, ast.Name, ast.Attribute, ast.Subscript, ast.Tuple,
    ast.List, ast.Constant, ast.BinOp, ast.BitOr, ast.UnaryOp, ast.USub, ast.UAdd, ast.Load,
)  # fmt: skip


def check_type_expression(tree: ast.AST) -> str | None:
    """Why ``tree`` is not a plain type expression, or None when it is one."""
    for node in ast.walk(tree):
        if not isinstance(node, _TYPE_NODES):
            return f"{type(node).__name__.lower()} is not part of a type expression"
        if isinstance(node, ast.Module) and (
            len(node.body) != 1 or not isinstance(node.body[0], ast.Expr)
        ):
            return "a type expression is a single expression"
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return "only | combines types"
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return f"the name {node.id!r} is not a type"
        if isinstance(node, ast.Attribute) and (
            node.attr.startswith("_") or node.attr in INSPECT_ATTRIBUTES
        ):
            return f"the attribute {node.attr!r} is not a type"
    return None


def _is_exempt(filename: str) -> bool:
    known = _exempt_seen.get(filename)
    if known is None:
        known = _exempt_seen[filename] = os.path.realpath(filename) in _EXEMPT_COMPILERS
    return known


def _on_compile(source: Any, caller: Any) -> None:
    if caller is not None and _is_exempt(caller.f_code.co_filename):
        return
    frames = _workflow_frames(caller)
    if not frames:
        return
    _check_forward_ref_module(caller, frames)
    if isinstance(source, ast.AST):
        tree: ast.AST = source
        text = ast.unparse(source)
    else:
        if isinstance(source, bytes | bytearray):
            text = bytes(source).decode("utf-8", "replace")
        else:
            text = "".join((source,))  # the text itself, whatever a str subclass says
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            try:
                tree = ast.parse(text)
            except SyntaxError:
                return  # compile() raises its own SyntaxError: nothing will run
    why = check_type_expression(tree)
    if why is not None:
        shown = text if len(text) <= 120 else text[:117] + "..."
        refuse(
            f"library code compiles the string {shown!r} here, to evaluate it outside the "
            f"sandbox's guards ({why}). A string evaluated as a type (a forward reference in an "
            "annotation, pydantic, functools.singledispatch) may only name types: names, "
            "dotted names, X[...], X | Y and literals. Write the type itself rather than a "
            "string built at run time, or do this in a 'use step' function."
        )
    why = check_names(tree, frames)
    if why is not None:
        refuse(
            f"library code compiles the string {text!r} here, to evaluate it in a namespace of "
            f"its own choosing ({why}). Names in an annotation string must be defined in the "
            "workflow module (or be builtins); define or import the type there."
        )


_TYPING_FILE = _module_file(typing)


def _check_forward_ref_module(caller: Any, frames: list[Any]) -> None:
    """Refuse ``typing.ForwardRef(text, module=m)`` for a module other than the workflow's.

    ``module=`` makes the reference evaluate in ``sys.modules[m]``'s real globals, where any
    name may mean a real module (``ForwardRef("sys", module="typing")``).
    """
    if caller.f_code.co_name != "__init__" or not _is_typing(caller.f_code.co_filename):
        return
    module = caller.f_locals.get("module")
    if module is None or any(module == f.f_globals.get("__name__") for f in frames):
        return
    refuse(
        f"typing.ForwardRef(..., module={module!r}) is not allowed in workflow code: it "
        "evaluates the reference in that module's real globals, outside the sandbox."
    )


def _is_typing(filename: str) -> bool:
    return os.path.realpath(filename) == _TYPING_FILE


def _workflow_frames(frame: Any) -> list[Any]:
    """The workflow frames above ``frame``, innermost first ([] as for _workflow_code_calls)."""
    if not _workflow_code_calls(frame):
        return []
    frames = []
    key = RUN_KEY
    while frame is not None:
        if key in frame.f_globals:
            frames.append(frame)
        frame = frame.f_back
    return frames


def _workflow_code_calls(frame: Any, *, runtime_trusted: bool = False) -> bool:
    """Whether workflow code is on the stack above ``frame`` with no trusted reader between.

    A module being imported (lazily, by a library that workflow code called) runs its own
    body, not text from the workflow: ``typing_extensions`` and pydantic ``exec`` generated
    helpers at import time. ``importlib.metadata`` reads package metadata (pydantic looks for
    plugins), ``linecache`` reads module source for a traceback, the sandbox's compile cache
    reads and writes its files: none of them with a path the workflow chose. For I/O events
    (``runtime_trusted``), wdk's runtime layers are trusted too: the runtime reads the source
    of a user module that workflow code imports, and ``print`` writes the run's log.
    """
    key = RUN_KEY
    while frame is not None:
        if key in frame.f_globals:
            return True
        if frame.f_code.co_filename.startswith(_READERS):
            return False
        name = frame.f_globals.get("__name__")
        if name in _TRUSTED_MODULES or (type(name) is str and name.startswith("importlib.")):
            return False
        if runtime_trusted and type(name) is str and name.startswith(_RUNTIME_MODULES):
            return False
        frame = frame.f_back
    return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "compile":
        _on_compile(args[0], sys._getframe(1))
        return
    if event not in IO_EVENTS and not event.startswith(_IO_PREFIXES):
        return
    if not _workflow_code_calls(sys._getframe(1), runtime_trusted=True):
        return
    detail = f" {args[0]!r}" if args and isinstance(args[0], str | bytes) else ""
    refuse(
        f"the operation {event}{detail} is not allowed in workflow code: it reaches the host "
        "(files, processes, environment, network or the interpreter). Do it in a 'use step' "
        "function."
    )


_installed = False
_lock = threading.Lock()


def install() -> None:
    """Add the hook to this process (once; audit hooks cannot be removed)."""
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
