"""``/docs``: Swagger UI from the wheel, open without the token, nothing loaded from elsewhere."""

from __future__ import annotations

import gzip
import re
from importlib import resources

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from wdk.server import ServerConfig, create_app
from wdk.server._docs import SWAGGER_UI_VERSION


def _client(token: str | None = "s3cret") -> TestClient:
    return TestClient(create_app("memory://", config=ServerConfig(api_token=token)))


def _shipped(name: str) -> bytes:
    return resources.files("wdk.server").joinpath("_swagger", name).read_bytes()


def test_docs_page_needs_no_token_and_loads_only_local_files() -> None:
    client = _client()
    assert client.get("/api/runs").status_code == 401  # the API itself still needs it
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), page.text
    assert 'data-openapi="/openapi.json"' in page.text
    linked = re.findall(r"(?:src|href)=\"([^\"?]+)", page.text)
    assert sorted(linked) == [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/wdk-docs.js",
    ]
    for url in linked:
        resp = client.get(url, headers={"accept-encoding": "identity"})
        assert resp.status_code == 200, url
        assert resp.headers.get("content-encoding") is None
    assert SWAGGER_UI_VERSION in page.text
    starter = client.get("/docs/wdk-docs.js").text
    assert "validatorUrl: null" in starter and "persistAuthorization: false" in starter


def test_assets_are_the_shipped_files_gzipped_on_request() -> None:
    client = _client(None)
    raw = _shipped("swagger-ui-bundle.js")
    assert len(raw) > 1_000_000  # the real bundle, not a stub
    plain = client.get("/docs/swagger-ui-bundle.js", headers={"accept-encoding": "identity"})
    assert plain.content == raw
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    packed = client.get("/docs/swagger-ui-bundle.js", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == raw  # httpx decodes it
    assert int(packed.headers["content-length"]) == len(gzip.compress(raw, 9, mtime=0))
    for notice in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert client.get(f"/docs/{notice}").content == _shipped(notice)


def test_unknown_asset_is_a_json_404() -> None:
    resp = _client().get("/docs/../_models.py")
    assert resp.status_code == 404
    resp = _client().get("/docs/index.html")
    assert resp.status_code == 404 and "/docs" in resp.json()["error"]


def test_docs_under_a_mount_prefix_link_below_it() -> None:
    outer = Starlette(routes=[Mount("/wdk", app=create_app("memory://"))])
    client = TestClient(outer)
    page = client.get("/wdk/docs").text
    assert 'data-openapi="/wdk/openapi.json"' in page
    assert 'src="/wdk/docs/swagger-ui-bundle.js' in page
    assert client.get("/wdk/docs/swagger-ui.css").status_code == 200
