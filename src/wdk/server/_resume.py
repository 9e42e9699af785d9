"""Resuming hooks from outside a workflow, with the hook's schema applied.

How the server learns a hook's schema: ``define_hook(Model).create(...)`` stores the schema's
import path (``module:qualname``) in the hook's metadata envelope
(:class:`wdk._webhooks.HookMeta`). Here the path is imported (user modules resolve through the
worker's project, like steps do) and the payload validated with pydantic before anything is
written, exactly as ``define_hook(...).resume`` does. Plain ``create_hook`` hooks take any
JSON payload. Webhook tokens are refused: a webhook only accepts HTTP requests at its URL.
"""

from __future__ import annotations

import importlib
from typing import Any

from wdk import serde
from wdk._webhooks import HookMeta, unwrap_metadata
from wdk.api import HookResumeResult, resume_hook
from wdk.errors import HookNotFoundError, WorkflowError
from wdk.worlds.base import HookInfo, World

__all__ = ["SchemaLoadError", "WebhookTokenError", "decode_hook", "resume_checked"]

_definitions: dict[str, Any] = {}


class WebhookTokenError(WorkflowError):
    """The token belongs to a webhook: send HTTP requests to its URL instead."""


class SchemaLoadError(WorkflowError):
    """The hook's recorded schema could not be imported."""


def decode_hook(hook: HookInfo) -> tuple[Any, HookMeta]:
    """``(user metadata, envelope)`` of a stored hook."""
    value = serde.decode(hook.metadata) if hook.metadata else None
    return unwrap_metadata(value)


def _definition(path: str) -> Any:
    found = _definitions.get(path)
    if found is not None:
        return found
    from wdk._workflow_api import HookDefinition

    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        definition: Any = HookDefinition(obj)
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot validate
        raise SchemaLoadError(
            f"cannot load the hook's schema {path!r}: {type(exc).__name__}: {exc}"
        ) from None
    _definitions[path] = definition
    return definition


async def resume_checked(world: World, token: str, payload: Any) -> HookResumeResult:
    """Validate ``payload`` against the hook's schema (if any) and deliver it.

    Raises:
        HookNotFoundError: no live hook holds ``token``.
        WebhookTokenError: the token is a webhook's.
        HookPayloadError: the schema rejected the payload (nothing was stored).
        SchemaLoadError: the schema recorded for the hook cannot be imported.
    """
    hook = await world.get_hook_by_token(token)
    if hook is None:
        raise HookNotFoundError(f"no live hook has token {token!r}", token=token)
    if hook.kind == "webhook":
        raise WebhookTokenError(
            f"token {token!r} belongs to a webhook; send HTTP requests to its URL instead"
        )
    _, meta = decode_hook(hook)
    if meta.schema:
        payload = _definition(meta.schema).validate(payload)
    return await resume_hook(token, payload, world=world)
