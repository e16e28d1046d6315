"""The benchmarks in bench/ still run and print their ratios (a bench that rots shows nothing).

Tiny sizes: this checks that each one works end to end, never how fast anything is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
RATIO = r"(\d+\.\d+)x"


def run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_bench_client_prints_every_acceptance_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMFYUI_URL", raising=False)  # its own sandbox, never a real server
    tiny = ["--jobs", "2", "--batch", "4", "--rounds", "2", "--size-mb", "24", "--requests", "20"]
    text = run("bench_client.py", *tiny)
    assert "server: sandbox" in text
    assert re.search(rf"latency, 2 sequential jobs .* ratio {RATIO} \(target <= 1.10x\)", text), text
    rounds = re.search(
        rf"throughput, 4 jobs together, 2 paired rounds: .* median {RATIO} .*rounds ([\d. ]+)\)", text
    )
    assert rounds and len(rounds.group(2).split()) == 2, text
    mem = re.search(
        r"memory, 24 MB download .*: raw ([\d.]+) MB, comfyctl ([\d.]+) MB .*control.*: ([\d.]+) MB", text
    )
    assert mem, text
    # The transport comparison (docs/architecture.md): every candidate of the dev install, one row each
    assert "transports, sync client: per request (20 queue() calls a round)" in text, text
    row = rf"^  (\w+): .*? (\d+) us +{RATIO} .* us +[\d.]+x +[\d.]+x +[\d.]+ ms$"
    rows = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(row, text, re.M)}
    assert set(rows) == {"comfyctl", "httpx", "urllib3", "pycurl"}, text
    assert all(cpu > 0 and ratio > 0 for cpu, ratio in rows.values()), text
    assert float(mem.group(2)) < 64  # streamed, while the control that buffers the file is seen growing
    assert float(mem.group(3)) > float(mem.group(2))


@pytest.mark.parametrize("script", ["bench_startup.py", "bench_workflow.py"])
def test_other_benches_run(script: str) -> None:
    assert re.search(RATIO, run(script, "--rounds", "1")), script


def test_bench_mcp_prints_the_overhead_and_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMFYUI_URL", raising=False)
    text = run("bench_mcp.py", "--calls", "2", "--starts", "1")
    assert re.search(
        rf"run_workflow, 2 paired calls: .* overhead [+-]\d+\.\d ms per call .* ratio {RATIO}", text
    ), text
    assert re.search(rf"start to first tool result, 1 starts: comfyctl mcp \d+ ms, .* ratio {RATIO}", text), (
        text
    )
