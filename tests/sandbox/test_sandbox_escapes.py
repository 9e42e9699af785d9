"""The escape and non-determinism corpus: every entry must raise SandboxError."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from conftest import FakeContext, make_sandbox, run_body
from wdk.errors import SandboxError

PRELUDE = """
import json, re, typing, math, decimal, contextlib, statistics, copy, functools, operator
import string, enum, dataclasses, collections, time, datetime, random, uuid
import abc, typing_extensions, pydantic
def f(): return 1
def gen():
    yield 1
async def co(): return 1
async def agen():
    yield 1
class Color(enum.Enum):
    RED = 1
"""

# (id, body) — each body is the inside of ``async def wf():`` after PRELUDE at module level.
CORPUS: list[tuple[str, str]] = [
    ("open", "open('/etc/passwd')"),
    ("open-write", "open('/tmp/x', 'w').write('x')"),
    ("import-os", "import os"),
    ("import-os-path", "import os.path"),
    ("from-os-environ", "from os import environ"),
    ("import-sys", "import sys"),
    ("import-socket", "import socket"),
    ("import-subprocess", "import subprocess"),
    ("import-threading", "import threading"),
    ("import-importlib", "import importlib"),
    ("import-builtins", "import builtins"),
    ("import-ctypes", "import ctypes"),
    ("import-pickle", "import pickle"),
    ("import-marshal", "import marshal"),
    ("import-inspect", "import inspect"),
    ("import-gc", "import gc"),
    ("import-signal", "import signal"),
    ("import-shutil", "import shutil"),
    ("import-pathlib", "import pathlib"),
    ("import-tempfile", "import tempfile"),
    ("import-urllib", "import urllib.request"),
    ("import-http", "import http.client"),
    ("import-io", "import io"),
    ("import-types", "import types"),
    ("import-secrets", "import secrets"),
    ("import-private-submodule", "from pydantic._internal import _model_construction"),
    ("import-wdk-api", "import wdk.api"),
    ("import-wdk-runtime", "from wdk import _context"),
    ("dunder-import", "__import__('os')"),
    ("subclasses", "().__class__.__base__.__subclasses__()"),
    ("getattr-class", "getattr((), '__class__')"),
    ("getattr-globals", "getattr(f, '__globals__')"),
    ("getattr-underscore", "getattr(json, '_default_encoder')"),
    ("globals-attr", "f.__globals__"),
    ("code-attr", "f.__code__"),
    ("builtins-self", "print.__self__"),
    ("gi-frame", "gen().gi_frame"),
    ("gi-frame-getattr", "getattr(gen(), 'gi_frame')"),
    ("gi-code", "gen().gi_code"),
    ("gi-yieldfrom-getattr", "getattr(gen(), 'gi_yieldfrom')"),
    ("cr-frame", "co().cr_frame"),
    ("ag-frame-getattr", "getattr(agen(), 'ag_frame')"),
    ("format-dunder", "'{0.__class__}'.format(1)"),
    ("format-globals", "'{0.__init__.__globals__}'.format(Color)"),
    ("format-map-dunder", "'{x.__class__}'.format_map({'x': 1})"),
    ("str-format-unbound", "str.format('{0.__globals__}', f)"),
    ("fstring-dunder", "f'{f.__globals__}'"),
    ("string-formatter", "string.Formatter().format('{0.__class__}', 1)"),
    ("from-string-formatter", "from string import Formatter"),
    ("type-3-arg", "type('X', (), {})"),
    ("type-of-type-3-arg", "type(int)('X', (), {})"),
    ("type-metaclass", "type(Color)('X', (), {})"),
    ("json-codecs", "json.codecs.open('/etc/passwd')"),
    ("from-json-codecs", "from json import codecs"),
    ("json-decoder-module", "json.decoder"),
    ("datetime-sys", "datetime.sys.modules['os']"),
    ("re-copyreg", "re.copyreg.dispatch_table"),
    ("typing-sys", "typing.sys.modules"),
    ("enum-sys", "enum.sys"),
    ("statistics-sys", "statistics.sys.modules['os']"),
    ("getattr-module-chain", "getattr(statistics, 'sys')"),
    ("statistics-real-random", "statistics.random.SystemRandom()"),
    ("dataclasses-sys", "dataclasses.sys"),
    ("write-math-pi", "math.pi = 3"),
    ("write-json-dumps", "json.dumps = None"),
    ("setattr-module", "setattr(math, 'pi', 3)"),
    ("augassign-module", "math.pi += 1"),
    ("del-module-attr", "del json.dumps"),
    ("write-library-class", "json.JSONEncoder.indent = 4"),
    ("write-shared-decimal-context", "decimal.getcontext().prec = 5"),
    ("decimal-setcontext", "decimal.setcontext(decimal.Context())"),
    ("contextlib-chdir", "contextlib.chdir('/')"),
    ("contextlib-redirect", "contextlib.redirect_stdout(None)"),
    ("time-sleep", "time.sleep(1)"),
    ("from-time-sleep", "from time import sleep\nsleep(1)"),
    ("hash", "hash('abc')"),
    ("id", "id(f)"),
    ("exec", "exec('1')"),
    ("eval", "eval('1')"),
    ("eval-alias", "e = eval\ne('1')"),
    ("compile", "compile('1', 'x', 'exec')"),
    ("globals", "globals()"),
    ("locals", "locals()"),
    ("vars", "vars(json)"),
    ("breakpoint", "breakpoint()"),
    ("input", "input()"),
    ("memoryview", "memoryview(b'x')"),
    ("attrgetter-dunder", "operator.attrgetter('__class__')(1)"),
    ("attrgetter-dotted", "operator.attrgetter('real.__class__')(1)"),
    ("methodcaller-dunder", "operator.methodcaller('__subclasses__')(object)"),
    ("reduce-getattr", "functools.reduce(getattr, ['__class__'], 1)"),
    ("typing-get-type-hints", "typing.get_type_hints(f)"),
    ("random-system", "random.SystemRandom()"),
    ("random-seed-entropy", "random.seed()"),
    ("uuid1", "uuid.uuid1()"),
    ("print-file", "print('x', file=json)"),
    ("try-star", "try:\n    pass\nexcept* ValueError:\n    pass"),
    ("match-class-pattern", "match 1:\n    case object(__class__=c):\n        pass"),
    ("posonly-shadow-getattr", "def g(_getattr_, /):\n    return _getattr_"),
    ("string-annotation", "x: '().__class__.__bases__' = 1"),
    ("del-method", "class K:\n    def __del__(self):\n        pass"),
    ("roles", "f.x__roles__"),
    # issue 19: the classes of the third corpus (tests/sandbox/test_escapes_wdk_run.py)
    ("forward-ref-call", "pydantic.TypeAdapter(\"__import__('os').system('true')\")"),
    (
        "forward-ref-module-name",
        "class K:\n    z: 'typing'\ntyping_extensions.get_annotations(K, eval_str=True)",
    ),
    (
        "singledispatch-string",
        "fd = functools.singledispatch(f)\ndef g(a: 'x' + '()'):\n    pass\nfd.register(g)",
    ),
    (
        "update-wrapper-names",
        "functools.update_wrapper(Color, json.dumps, assigned=('__globals__',))",
    ),
    ("abcmeta-namespace", "abc.ABCMeta('K', (), {'__del__': f})"),
    ("generic-meta-is-type", "typing_extensions.GenericMeta('K', (), {'__getattribute__': f})"),
    ("enum-functional-dunder", "enum.Enum('E', [('__init_subclass__', f)])"),
    (
        "make-dataclass-namespace",
        "dataclasses.make_dataclass('D', ['a'], namespace={'__reduce__': f})",
    ),
    ("decimal-context-init", "decimal.getcontext().__init__(prec=3)"),
    ("decimal-unbound-init", "decimal.Context.__init__(decimal.getcontext(), prec=3)"),
    (
        "pydantic-alias",
        "class M(pydantic.BaseModel):\n    a: int = pydantic.Field(validation_alias='__class__')",
    ),
    ("pydantic-import-string", "pydantic.ImportString"),
    ("abc-register-library", "collections.abc.Sized.register(Color)"),
]


@pytest.mark.parametrize(("body"), [c[1] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_escape_is_refused(body: str, tmp_path: Path, ctx: FakeContext) -> None:
    src = PRELUDE + "async def wf():\n" + textwrap.indent(body, "    ") + "\n"
    sandbox = make_sandbox({"esc": src}, tmp_path)
    with pytest.raises(SandboxError) as err:
        mod = sandbox.import_module("esc")
        coro = mod.wf()
        try:
            coro.send(None)
        finally:
            coro.close()
    message = str(err.value)
    assert str(tmp_path / "src" / "esc.py") + ":" in message, message


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(
    ("body", "line", "advice"),
    [
        ("x = 1\nopen('f')", 3, "file I/O belongs in a 'use step' function"),
        ("import os", 2, "'use step' function"),
        ("time.sleep(1)", 2, "await wdk.sleep("),
        ("hash('a')", 2, "PYTHONHASHSEED"),
        ("math.pi = 3", 2, "shared by every run"),
        ("json.codecs", 2, "may not use"),
    ],
)
def test_message_has_file_line_and_advice(
    body: str, line: int, advice: str, tmp_path: Path, ctx: FakeContext
) -> None:
    src = "import time, math, json\nasync def wf():\n" + textwrap.indent(body, "    ") + "\n"
    sandbox = make_sandbox({"m": src}, tmp_path)
    with pytest.raises(SandboxError) as err:
        coro = sandbox.import_module("m").wf()
        coro.send(None)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'src' / 'm.py'}:{line + 1}: "), message
    assert advice in message


def test_compile_error_lists_every_violation(tmp_path: Path) -> None:
    src = "x = ().__class__\ny = f.__globals__\n"
    with pytest.raises(SandboxError) as err:
        make_sandbox({"m": src}, tmp_path).import_module("m")
    message = str(err.value)
    path = tmp_path / "src" / "m.py"
    assert f"{path}:1: " in message and f"{path}:2: " in message
    assert "'use step' function" in message


@pytest.mark.skipif(
    importlib.util.find_spec("wdk.runtime.asyncio_shim") is None, reason="no asyncio shim yet"
)
@pytest.mark.parametrize("call", ["get_event_loop()", "run(None)", "new_event_loop()"])
def test_real_event_loop_is_refused(call: str, tmp_path: Path, ctx: FakeContext) -> None:
    with pytest.raises(SandboxError, match="not available in workflow code"):
        run_body(f"import asyncio\nasyncio.{call}", tmp_path)


def test_prelude_alone_runs(tmp_path: Path, ctx: FakeContext) -> None:
    """Control: the corpus fails because of its bodies, not because of the prelude."""
    src = PRELUDE + "async def wf():\n    return json.dumps([Color.RED.value, f()])\n"
    coro = make_sandbox({"esc": src}, tmp_path).import_module("esc").wf()
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == "[1, 1]"
