"""PostgreSQL for tests: the server on 127.0.0.1:5432, a fresh schema per test.

Without a server the tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("WDK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

_reachable: bool | None = None


def require_postgres() -> None:
    """Skip (or fail under CI) when the PostgreSQL server is unreachable."""
    global _reachable
    if _reachable is None:
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=3):
                pass
            _reachable = True
        except Exception:  # noqa: BLE001 - any failure means "not available"
            _reachable = False
    if not _reachable:
        reason = f"PostgreSQL is unreachable at {PG_URL} (set WDK_TEST_POSTGRES_URL)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: not skipping)")
        pytest.skip(reason)


def fresh_schema() -> str:
    """A schema name no other test uses."""
    return f"wdk_test_{uuid.uuid4().hex[:12]}"
