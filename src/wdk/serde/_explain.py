"""Name the exact place in a value that could not be encoded.

The fast path hands the whole value to msgpack's C packer and learns only *that* something
failed. Tracking a path during every encode would cost a Python-level walk of the hot path,
so instead, only after a failure, this module walks the value again in Python, following the
same handlers the codec uses, and reports the first offending location as a path such as
``args[1]["client"]``, ``order.customer`` (dataclass fields), ``value<key 0>`` (a dict key) or
``value<element 2>`` (a set element). Reference cycles and runaway nesting are reported too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wdk.errors import SerializationError
from wdk.serde._builtin import dict_children
from wdk.serde._classpath import Unsupported, type_name
from wdk.serde._registry import handler_for
from wdk.serde._types import Pack

__all__ = ["explain"]

_MAX_DEPTH = 500
_LEAVES = frozenset({type(None), bool, int, float, str, bytes, bytearray, memoryview})


class _Found(Exception):
    def __init__(self, path: str, obj: Any, reason: str, cause: BaseException | None) -> None:
        super().__init__(reason)
        self.path, self.obj, self.reason, self.cause = path, obj, reason, cause


def _children(path: str, obj: Any, pack: Pack) -> Iterable[tuple[str, Any]] | None:
    cls = type(obj)
    if cls in _LEAVES:
        return None
    if cls is list:
        return ((f"[{i}]", item) for i, item in enumerate(obj))
    if cls is dict:
        return dict_children(obj)
    handler = handler_for(cls)
    try:
        if handler.children is None:
            handler.encode(obj, pack)
            return None
        return list(handler.children(obj))
    except Unsupported as exc:
        raise _Found(path, obj, exc.reason, None) from None
    except SerializationError as exc:
        raise _Found(path, obj, exc.message, exc) from None
    except Exception as exc:  # noqa: BLE001 - a failing to_data/serialize hook is the culprit
        raise _Found(path, obj, f"{type(exc).__name__}: {exc}", exc) from None


def _locate(value: Any, root: str, pack: Pack) -> None:
    # Entries are (path, value, depth); a ``None`` path marks leaving the container ``value``.
    stack: list[tuple[str | None, Any, int]] = [(root, value, 0)]
    active: set[int] = set()
    while stack:
        path, obj, depth = stack.pop()
        if path is None:
            active.discard(id(obj))
            continue
        if id(obj) in active:
            raise _Found(path, obj, "the value contains itself (a reference cycle).", None)
        if depth > _MAX_DEPTH:
            raise _Found(path, obj, f"the value is nested more than {_MAX_DEPTH} deep.", None)
        children = _children(path, obj, pack)
        if children is None:
            continue
        active.add(id(obj))
        stack.append((None, obj, depth))
        stack.extend(reversed([(path + label, child, depth + 1) for label, child in children]))


def explain(value: Any, root: str, error: BaseException, pack: Pack) -> SerializationError:
    """Build the error for a failed ``encode(value, path=root)``.

    Args:
        value: The value that failed to encode.
        root: The name of the value in messages (``"args"``, ``"value"``).
        error: What the fast path raised.
        pack: The codec's encoder, used to check leaf values.
    """
    try:
        _locate(value, root, pack)
    except _Found as found:
        tn = type_name(type(found.obj))
        err = SerializationError(
            f"wdk cannot serialize {found.path} of type {tn}: {found.reason}",
            path=found.path,
            type_name=tn,
        )
        err.__cause__ = found.cause
        return err
    except RecursionError:
        pass
    tn = type_name(type(value))
    reason = str(error) or type(error).__name__
    if isinstance(error, RecursionError) or "recursion" in reason:
        reason = "the value is nested too deeply, or contains itself (a reference cycle)."
    err = SerializationError(
        f"wdk cannot serialize {root} of type {tn}: {reason}", path=root, type_name=tn
    )
    err.__cause__ = error
    return err
