"""The opaque ``list_runs`` cursor, one shape for every world."""

from __future__ import annotations

from wdk.errors import WorldError

__all__ = ["decode_cursor", "encode_cursor"]


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
