"""Issue 17, item 5: DurableAgent and AI SDK v6 compatibility (seed 004), through `wdk run` on
a real SQLite file: ``stream(instructions=...)``, typed (multimodal) tool results, and a model
that cannot stream."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ai_paths import AI_FIXTURES

WDK = str(Path(sys.executable).with_name("wdk"))
USER = json.dumps([{"role": "user", "content": "go"}])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("seed_agents.py", "scripts.py"):
        shutil.copy(AI_FIXTURES / name, tmp_path / name)
    return tmp_path


def wdk_run(project: Path, workflow: str) -> Any:
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"), WDK_RETRY_BASE="0.01")
    env.pop("WDK_WORLD", None)
    done = subprocess.run(
        [WDK, "run", f"seed_agents:{workflow}", USER],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def chunks_of(project: Path) -> list[dict[str, Any]]:
    """The UI chunks of the one run in the project's world (``wdk inspect streams``)."""
    env = dict(os.environ, WDK_CACHE_DIR=str(project / ".cache"))
    env.pop("WDK_WORLD", None)
    runs = subprocess.run(
        [WDK, "inspect", "runs", "--json"], cwd=project, env=env, capture_output=True, text=True
    )
    assert runs.returncode == 0, runs.stderr
    run_id = json.loads(runs.stdout)[0]["run_id"]
    out = subprocess.run(
        [WDK, "inspect", "streams", run_id, "--namespace", "default"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line)["value"] for line in out.stdout.splitlines() if line.strip()]


def test_stream_takes_instructions_for_one_call(project: Path) -> None:
    result = wdk_run(project, "instructed")
    assert result == {
        "call": "instructions: from the call",
        "agent": "instructions: from the agent",
    }


def test_a_tool_returning_text_and_an_image_or_file_reaches_the_model_as_content(
    project: Path,
) -> None:
    result = wdk_run(project, "multimodal")
    # The model saw real multimodal parts (pydantic-ai BinaryContent), not dicts.
    assert result["text"] == ("snapshot=[str,image/png:8]; report=[str,application/pdf:11]")
    # History keeps the AI SDK v6 typed form: plain JSON, base64 data.
    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a")).decode()
    pdf = base64.b64encode(b"%PDF-1.4 q3").decode()
    assert result["outputs"] == [
        {
            "type": "content",
            "value": [
                {"type": "text", "text": "screenshot of /home"},
                {"type": "image-data", "data": png, "mediaType": "image/png"},
            ],
        },
        {
            "type": "content",
            "value": [
                {"type": "text", "text": "report q3 attached"},
                {"type": "file-data", "data": pdf, "mediaType": "application/pdf"},
            ],
        },
    ]
    outputs = [c for c in chunks_of(project) if c["type"] == "tool-output-available"]
    assert [c["output"] for c in outputs] == [o for o in result["outputs"]]


def test_a_model_that_cannot_stream_runs_unstreamed_and_is_still_written(project: Path) -> None:
    result = wdk_run(project, "cannot_stream")
    assert result == {"text": "Sum: 5, without streaming", "steps": 2}
    chunks = chunks_of(project)
    types = [c["type"] for c in chunks]
    assert types.count("start-step") == 2 and types.count("finish-step") == 2
    assert types[-1] == "finish" and types.count("finish") == 1
    assert "tool-input-available" in types and "tool-output-available" in types
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert text == "Sum: 5, without streaming"
