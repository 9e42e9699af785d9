"""``/docs``: Swagger UI for ``/openapi.json``, served from the wheel (no CDN).

Why Swagger UI, shipped: it renders OpenAPI 3.1 (the document is 3.1), its "Authorize" button
takes the bearer token and its "Try it out" sends real requests, and the two files it needs
(``swagger-ui-bundle.js``, ``swagger-ui.css``: 1.9 MB, ~0.5 MB gzipped; Apache-2.0, with
their LICENSE, NOTICE and third-party notices beside them) are small enough to carry. Loading
them from a CDN would make the page depend on a third party at run time and break offline
and behind firewalls. The assets are answered gzipped to clients that accept it.

The page itself holds no data and needs no token; only the ``/api`` requests made from it
do. ``validatorUrl: null`` keeps Swagger UI from sending the document to an online validator,
and the token is not persisted (Swagger UI keeps it in memory for the tab).

Updating: ``npm pack swagger-ui-dist@<version>``, copy ``swagger-ui-bundle.js``,
``swagger-ui.css``, ``LICENSE``, ``NOTICE`` and ``swagger-ui-bundle.js.LICENSE.txt`` from it
into ``_swagger/`` and set :data:`SWAGGER_UI_VERSION`.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from wdk.server._http import ApiError

__all__ = ["SWAGGER_UI_VERSION", "docs_asset", "docs_page"]

#: The swagger-ui-dist release in ``_swagger/``.
SWAGGER_UI_VERSION = "5.35.0"

_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "wdk-docs.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
}

# Our own starter script: a file, not an inline <script>, so a Content-Security-Policy of
# script-src 'self' holds.
_STARTER = b"""window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    tryItOutEnabled: true,
  });
});
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wdk API</title>
<link rel="stylesheet" href="{base}/docs/swagger-ui.css?v={version}">
</head>
<body>
<div id="swagger-ui" data-openapi="{base}/openapi.json"></div>
<script src="{base}/docs/swagger-ui-bundle.js?v={version}"></script>
<script src="{base}/docs/wdk-docs.js?v={version}"></script>
</body>
</html>
"""

# Swagger UI sets inline styles and shows data: images (icons); everything else is our own.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    """An asset's bytes and their gzip form (read and compressed once per process)."""
    if name == "wdk-docs.js":
        raw = _STARTER
    else:
        raw = resources.files("wdk.server").joinpath("_swagger", name).read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


async def docs_page(request: Request) -> Response:
    """``GET /docs``: Swagger UI reading this server's ``/openapi.json``."""
    base = _attr(request.scope.get("root_path", "").rstrip("/"))
    html = _PAGE.format(base=base, version=SWAGGER_UI_VERSION)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"cache-control": "no-cache", "content-security-policy": _CSP},
    )


async def docs_asset(request: Request) -> Response:
    """``GET /docs/{name}``: Swagger UI's files, gzipped when the client accepts it."""
    name = request.path_params["name"]
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, f"no docs asset {name!r}; the API's documentation is at /docs")
    raw, packed = _asset(name)
    headers = {"cache-control": "public, max-age=86400", "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(packed, media_type=media_type, headers=headers)
    return Response(raw, media_type=media_type, headers=headers)
