"""``wdk.Response`` and the built-in ``fetch`` step."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FETCH_STEP_ID", "Response", "fetch_impl"]

FETCH_STEP_ID = "step//wdk//fetch"


@dataclass(frozen=True)
class Response:
    """A plain, serializable HTTP response value."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def __init__(
        self, body: bytes | str = b"", *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        object.__setattr__(self, "body", body.encode() if isinstance(body, str) else bytes(body))
        object.__setattr__(self, "status", int(status))
        object.__setattr__(self, "headers", dict(headers or {}))

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    def __wdk_serialize__(self) -> dict[str, Any]:
        return {"body": self.body, "status": self.status, "headers": self.headers}

    @classmethod
    def __wdk_deserialize__(cls, data: dict[str, Any]) -> Response:
        return cls(data["body"], status=data["status"], headers=data["headers"])


async def fetch_impl(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
) -> Response:
    """The body of the built-in ``fetch`` step: one HTTP request with httpx."""
    import httpx

    async with httpx.AsyncClient(follow_redirects=True, timeout=30.0) as client:
        resp = await client.request(method, url, headers=headers, content=body, json=json)
    return Response(resp.content, status=resp.status_code, headers=dict(resp.headers))
