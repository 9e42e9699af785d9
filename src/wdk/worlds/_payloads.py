"""What a world reads from event payloads.

``run_created``, ``run_adopted`` and ``hook_created`` carry msgpack maps whose fields the runs
view and the hooks table keep (see ``World`` in ``base``); every world reads them here, the same
way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from wdk.errors import WorldError

__all__ = ["HookSpec", "RunSpec", "adopted_deployment", "hook_spec", "run_spec", "unpack_map"]


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


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What the runs view keeps of a ``run_created`` payload."""

    workflow_id: str
    input: bytes | None
    deployment_id: str | None = None
    forked_from: str | None = None


def run_spec(data: bytes | None) -> RunSpec:
    """A ``run_created`` payload: workflow id, encoded input, deployment and fork origin."""
    spec = unpack_map(data)
    return RunSpec(
        str(spec.get("workflow_id", "")),
        _bytes_or_none(spec.get("input")),
        _str_or_none(spec.get("deployment_id")),
        _str_or_none(spec.get("forked_from")),
    )


def adopted_deployment(data: bytes | None) -> str | None:
    """A ``run_adopted`` payload's ``deployment_id`` (None when it names none)."""
    return _str_or_none(unpack_map(data).get("deployment_id"))


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
