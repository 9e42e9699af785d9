from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chat_page import build_page  # noqa: E402


@pytest.fixture(scope="session")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """web/chat built once per session (skips without Chromium/node/npm, fails under CI)."""
    return build_page(tmp_path_factory.mktemp("web"))
