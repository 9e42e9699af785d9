"""Every response the server tests receive is checked against the server's own /openapi.json.

:func:`checked_client` is an httpx client whose response hook finds the documented operation
of each request, asserts that the status code is documented for it and validates a JSON body
against the documented schema (JSON Schema 2020-12, what OpenAPI 3.1 uses). A route that
answers a field, a status or a shape the document does not list fails the test that saw it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs

_DOCS: dict[str, Checker] = {}


class Checker:
    """The document of one server and compiled validators for its schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: list[tuple[str, str, int]] = []
        self._validators: dict[str, Any] = {}
        self._ops: list[tuple[re.Pattern[str], str, str, dict[str, Any]]] = []
        for path, ops in document["paths"].items():
            # Literal segments before parameters: /api/runs/feed is not /api/runs/{run_id}.
            pattern = re.sub(
                r"\\\{(\w+)\\\}",
                lambda m: ".+" if m.group(1) == "workflow_id" else "[^/]+",
                re.escape(path),
            )
            for method, op in ops.items():
                self._ops.append((re.compile(pattern + "$"), method, path, op))
        self._ops.sort(key=lambda item: item[2].count("{"))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The documented (path template, operation) that serves ``method path``."""
        for pattern, op_method, template, op in self._ops:
            if op_method == method.lower() and pattern.match(path):
                return template, op
        return None

    def validate(self, ref: str, body: Any, where: str) -> None:
        """Validate ``body`` against ``#/components/schemas/...`` ``ref``."""
        validator = self._validators.get(ref)
        if validator is None:
            schema = {"$ref": ref, "components": self.document["components"]}
            validator = self._validators[ref] = jsonschema_rs.validator_for(schema)
        errors = [str(e) for e in validator.iter_errors(body)]
        assert not errors, f"{where}: the body does not match {ref}: {errors[:3]}\n{body}"

    def check(self, response: httpx.Response) -> None:
        """Assert that ``response`` is one the document describes."""
        request = response.request
        found = self.operation(request.method, request.url.path)
        if found is None:
            return  # not a documented route (a 404 for an unknown path, /docs, ...)
        template, op = found
        where = f"{request.method} {template} -> {response.status_code}"
        replies = op["responses"]
        reply = replies.get(str(response.status_code)) or replies.get("default")
        assert reply is not None, f"{where}: status not in the document ({sorted(replies)})"
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = reply.get("content")
        if media == "text/event-stream":
            assert content and media in content, f"{where}: undocumented event stream"
        elif content and "application/json" in content:
            assert media == "application/json", f"{where}: content-type {media!r}"
            response.read()
            self.validate(content["application/json"]["schema"]["$ref"], response.json(), where)
        self.checked.append((request.method.lower(), template, response.status_code))


def checker(base_url: str, headers: dict[str, str] | None = None) -> Checker:
    """The (cached) checker of the server at ``base_url``."""
    if base_url not in _DOCS:
        doc = httpx.get(f"{base_url}/openapi.json", headers=headers, timeout=30)
        assert doc.status_code == 200, doc.text
        _DOCS[base_url] = Checker(doc.json())
    return _DOCS[base_url]


def checked_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client whose every response is checked against the server's document."""
    check = checker(base_url, kwargs.get("headers"))
    return httpx.Client(base_url=base_url, event_hooks={"response": [check.check]}, **kwargs)
