"""``/api/hooks/{token}``: look a hook up (GET) and resume it (POST with a JSON payload)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wdk._delivery import SchemaLoadError, WebhookTokenError, decode_hook, resume_checked
from wdk._webhooks import WEBHOOK_PATH
from wdk.errors import HookNotFoundError, HookPayloadError, SerializationError
from wdk.serde._json import safe_text, to_jsonable, value_json
from wdk.server._http import ApiError, read_json
from wdk.worlds.base import HookInfo

__all__ = ["get_hook", "hook_json", "resume"]


def hook_json(hook: HookInfo, base_url: str) -> dict[str, Any]:
    """The API view of a live hook (webhooks also get their ``url``)."""
    try:
        user, _ = decode_hook(hook)
    except Exception:  # noqa: BLE001 - metadata that no longer decodes is shown as absent
        metadata = None
    else:
        metadata = value_json(user)
    out: dict[str, Any] = {
        "token": safe_text(hook.token),
        "run_id": hook.run_id,
        "kind": hook.kind,
        "metadata": metadata,
        "created_at": hook.created_at,
    }
    if hook.kind == "webhook":
        out["url"] = safe_text(f"{base_url.rstrip('/')}{WEBHOOK_PATH}{hook.token}")
    return out


async def get_hook(request: Request) -> Response:
    """``GET /api/hooks/{token}``: the live hook holding the token, or 404."""
    state = request.app.state.wdk
    token = request.path_params["token"]
    hook = await state.world.get_hook_by_token(token)
    if hook is None:
        raise ApiError(404, f"no live hook has token {token!r}")
    return JSONResponse(hook_json(hook, state.config.base_url))


async def resume(request: Request) -> Response:
    """``POST /api/hooks/{token}`` with the payload as the JSON body.

    200 ``{"run_id"}``; 400 with ``errors`` when the hook's schema rejects the payload (nothing
    is stored); 404 for an unknown or released token; 409 for a webhook's token.
    """
    state = request.app.state.wdk
    token = request.path_params["token"]
    payload = await read_json(request, state.config.max_body)
    try:
        result = await resume_checked(state.world, token, payload)
    except HookNotFoundError:
        raise ApiError(404, f"no live hook has token {token!r}") from None
    except WebhookTokenError as exc:
        raise ApiError(409, str(exc)) from None
    except HookPayloadError as exc:
        raise ApiError(400, str(exc), {"errors": to_jsonable(exc.errors)}) from None
    except SerializationError as exc:
        raise ApiError(400, str(exc)) from None
    except SchemaLoadError as exc:
        raise ApiError(500, str(exc)) from None
    return JSONResponse({"run_id": result.run_id, "token": token})
