"""The step bundle: the user's source unchanged plus a footer (docs/internals.md).

The footer wraps each workflow in a stub carrying its ID, so ``start(process_order)`` on a
plainly imported module knows what to start; steps stay plain functions. A module without
workflows gets no footer.
"""

from __future__ import annotations

import json

from wdk.compiler._model import WorkflowInfo

__all__ = ["FOOTER_MARK", "render_step_bundle"]

FOOTER_MARK = "# --- wdk step bundle (generated) ---"


def render_step_bundle(source: str, workflows: list[WorkflowInfo]) -> str:
    """The step bundle for one module."""
    if not workflows:
        return source
    out = [source if not source or source.endswith(("\n", "\r")) else source + "\n"]
    out.append(f"{FOOTER_MARK}\n")
    out.append("from wdk.runtime import workflow_stub as __wdk_workflow_stub__\n")
    for wf in workflows:
        name = wf.qualname
        out.append(
            f"{name} = __wdk_workflow_stub__({json.dumps(wf.id, ensure_ascii=False)}, {name})\n"
        )
    return "".join(out)
