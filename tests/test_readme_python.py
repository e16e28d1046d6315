"""The README's Python examples run, in order, against the sandbox (so they cannot rot)."""

from __future__ import annotations

import re
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest

from test_cli_readme import DEMO, README


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 3
    assert any("AsyncClient" in b for b in blocks) and any("Sandbox" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_example_runs(
    index: int,
    sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMFYUI_URL", sandbox.url)
    shutil.copy(DEMO, tmp_path / "workflow.json")
    script = tmp_path / "example.py"
    script.write_text(python_blocks()[index], encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    if "PromptRejected" in python_blocks()[index]:
        # What the comments in the example promise is what it prints.
        assert "node 1 (EmptyImage) input 'width': 0 is below the minimum 1" in out
        assert list((tmp_path / "outputs").glob("*.png"))
