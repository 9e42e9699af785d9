"""What every world's ``list_runs`` shares: the opaque cursor and the id-prefix range."""

from __future__ import annotations

from wdk.errors import WorldError

__all__ = ["decode_cursor", "encode_cursor", "prefix_upper_bound"]

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def encode_cursor(created_at: float, run_id: str) -> str:
    """The cursor pointing after the run (newest-first order: ``created_at``, then id)."""
    return f"{created_at!r}:{run_id}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Inverse of :func:`encode_cursor`; a malformed cursor raises WorldError."""
    head, sep, run_id = cursor.partition(":")
    try:
        if not sep:
            raise ValueError(cursor)
        return float(head), run_id
    except ValueError:
        raise WorldError(f"invalid list_runs cursor {cursor!r}") from None


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix``, in code point order.

    ``prefix <= id < bound`` is then exactly "``id`` starts with ``prefix``" wherever text
    compares by code point (SQLite's BINARY collation, a C collation), and a range over an
    index on ids reads only the matching ones; no LIKE, so ``%`` and ``_`` mean themselves.
    ``prefix + chr(0x10FFFF)`` would miss ids with that code point right after the prefix.
    None when there is no bound (an empty prefix, or one of U+10FFFF only).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop  # not encodable in UTF-8: the next character is U+E000
        if code <= _MAX_CODE_POINT:
            return "".join(chars) + chr(code)
    return None
