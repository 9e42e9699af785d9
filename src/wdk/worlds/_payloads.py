"""What a world reads from event payloads.

``run_created`` and ``hook_created`` carry msgpack maps whose fields the runs view and the hooks
table keep (see ``World`` in ``base``); every world reads them here, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from wdk.errors import WorldError

__all__ = ["HookSpec", "hook_spec", "run_spec", "unpack_map"]


def unpack_map(data: bytes | None) -> dict[str, Any]:
    """An event's msgpack map (empty for no data); WorldError if it is not one."""
    try:
        value = msgpack.unpackb(data or b"\x80", raw=False)
    except Exception as exc:
        raise WorldError(f"event data is not a msgpack map: {exc}") from exc
    if not isinstance(value, dict):
        raise WorldError("event data is not a msgpack map")
    return value


def _bytes_or_none(value: object) -> bytes | None:
    return value if isinstance(value, bytes) else None


def run_spec(data: bytes | None) -> tuple[str, bytes | None]:
    """A ``run_created`` payload's workflow id and encoded input."""
    spec = unpack_map(data)
    return str(spec.get("workflow_id", "")), _bytes_or_none(spec.get("input"))


@dataclass(frozen=True, slots=True)
class HookSpec:
    """A ``hook_created`` payload: the token, its metadata and the hook's kind."""

    token: str
    metadata: bytes | None
    kind: str


def hook_spec(data: bytes | None) -> HookSpec:
    """A ``hook_created`` payload; WorldError if it names no token."""
    spec = unpack_map(data)
    if "token" not in spec:
        raise WorldError("hook_created data has no token")
    return HookSpec(
        str(spec["token"]), _bytes_or_none(spec.get("metadata")), str(spec.get("kind") or "hook")
    )
