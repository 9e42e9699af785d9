"""``manifest.json``: every workflow and step of a tree, in a stable, diff-friendly order.

Format (docs/internals.md): ``version``, ``files`` (by relpath), ``workflows`` and ``steps``
(sorted by ID); two-space indent and a trailing newline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from wdk.compiler._model import ModuleResult

__all__ = ["MANIFEST_VERSION", "build_manifest", "dump_manifest"]

MANIFEST_VERSION = 1


def build_manifest(results: Iterable[ModuleResult]) -> dict[str, Any]:
    """The manifest of a set of compiled modules."""
    ordered = sorted(results, key=lambda r: r.relpath)
    return {
        "version": MANIFEST_VERSION,
        "files": {
            r.relpath: {
                "module": r.module,
                "sha256": r.sha256,
                "pruned_imports": list(r.pruned_imports),
            }
            for r in ordered
        },
        "workflows": sorted(
            (w.to_dict() for r in ordered for w in r.workflows), key=lambda w: str(w["id"])
        ),
        "steps": sorted(
            (s.to_dict() for r in ordered for s in r.steps), key=lambda s: str(s["id"])
        ),
    }


def dump_manifest(manifest: dict[str, Any]) -> str:
    """The manifest as written to disk."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
