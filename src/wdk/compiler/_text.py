"""A line-level view of one source file: lines with their endings, and column conversion.

The workflow bundle is the source's lines with the rewritten statements' lines swapped in
(each prints back to as many lines as it had), so every other line stays byte-identical at
the same line number.
"""

from __future__ import annotations

import re

__all__ = ["SourceText"]

# Python's own line breaks only: str.splitlines() also splits on \f, \v, \x1c.. which the
# tokenizer does not count as new lines, so line numbers would drift.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_BREAK = re.compile(r"(?:\r\n|\r|\n)\Z")


class SourceText:
    """The source split into lines (1-based access, endings kept)."""

    __slots__ = ("lines", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = _LINE.findall(source)

    def line(self, lineno: int) -> str:
        """Line ``lineno`` (1-based) without its ending; "" past the end."""
        if 1 <= lineno <= len(self.lines):
            return _BREAK.sub("", self.lines[lineno - 1])
        return ""

    def ending(self, lineno: int) -> str:
        """The line break that ends line ``lineno`` ("" for a last line without one)."""
        if 1 <= lineno <= len(self.lines):
            match = _BREAK.search(self.lines[lineno - 1])
            return match.group(0) if match else ""
        return ""

    def indent(self, lineno: int) -> str:
        """The leading whitespace of line ``lineno``."""
        text = self.line(lineno)
        return text[: len(text) - len(text.lstrip(" \t\f"))]

    def col(self, lineno: int, col_offset: int) -> int:
        """1-based character column of an ``ast`` UTF-8 byte offset."""
        text = self.line(lineno)
        if text.isascii():
            return col_offset + 1
        return len(text.encode()[:col_offset].decode(errors="ignore")) + 1

    def segment(self, lineno: int, col_offset: int, end_col_offset: int) -> str:
        """The text between two byte offsets of one line."""
        text = self.line(lineno)
        if text.isascii():
            return text[col_offset:end_col_offset]
        return text.encode()[col_offset:end_col_offset].decode(errors="replace")
