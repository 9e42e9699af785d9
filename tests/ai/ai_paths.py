"""Where the fixture trees of tests/ai live.

A plain module, not ``conftest``: when several test directories run in one session
(``pytest tests/ai tests/runtime tests/sandbox``), ``import conftest`` gives whichever
directory's conftest was loaded last.
"""

from pathlib import Path

AI_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ai"
