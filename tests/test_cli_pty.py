"""The live progress display, seen through a real pseudo-terminal (stdlib ``pty``).

``comfyctl run`` draws with rich only when stderr is a terminal; here stderr is a pty, stdout a
pipe, and the sandbox slows two nodes down with progress steps so the display must update.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pty = pytest.importorskip("pty")  # POSIX only

DEMO = Path(__file__).resolve().parent.parent / "src" / "comfyctl" / "cli" / "demo_workflow.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_pty(args: list[str], cwd: Path) -> tuple[int, str, str]:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "comfyctl"), *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(timeout=60), stdout, b"".join(chunks).decode(errors="replace")


def test_live_progress_updates_and_ends_with_a_clean_line(sandbox: Any, tmp_path: Path) -> None:
    sandbox.faults.node("2", delay=0.4, steps=4)
    sandbox.faults.node("3", delay=0.4, steps=4)
    wf = shutil.copy(DEMO, tmp_path / "demo.json")
    code, stdout, screen = _run_on_pty(["--url", sandbox.url, "run", str(wf), "--out", "out"], tmp_path)
    assert code == 0, screen
    assert len(stdout.split()) == 2 and all((tmp_path / p).is_file() for p in stdout.split())
    text = ANSI.sub("", screen)
    frames = [f.strip() for f in re.split(r"[\r\n]", text) if f.strip()]
    # the line was redrawn in place many times, showing the node, node count and sampler steps
    assert "\x1b[" in screen  # cursor control: drawn live, not printed line by line
    assert any("Blur #2" in f and "step" in f for f in frames), frames
    assert any("Scale #3" in f for f in frames), frames
    steps = {m for f in frames for m in re.findall(r"step (\d)/4", f)}
    assert len(steps) >= 2, frames
    counts = {m for f in frames for m in re.findall(r"(\d)/6 nodes", f)}
    assert len(counts) >= 2, frames
    assert any("ETA" in f for f in frames), frames
    # the live line is erased; the last thing on the terminal is the clean summary line
    after_last_erase = screen.rsplit("\x1b[2K", 1)[-1]
    final = [line.strip() for line in ANSI.sub("", after_last_erase).splitlines() if line.strip()]
    assert len(final) == 1 and final[0].startswith("✓") and "6 nodes" in final[0], final
    assert "nodes ·" not in final[0]


def test_quiet_draws_nothing_on_the_terminal(sandbox: Any, tmp_path: Path) -> None:
    sandbox.faults.node("2", delay=0.2, steps=2)
    wf = shutil.copy(DEMO, tmp_path / "demo.json")
    code, stdout, screen = _run_on_pty(["--url", sandbox.url, "run", str(wf), "-q"], tmp_path)
    assert code == 0 and len(stdout.split()) == 2
    assert screen.strip() == ""
