"""The README's command-line examples run, in order, against the sandbox (so they cannot rot).

Each ``sh`` block line is a ``comfyctl`` command (optionally ``VAR=$(comfyctl ...)``); a trailing
``# exit N`` comment states the expected exit code, otherwise 0 is expected.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from test_cli_support import ROOT, invoke

README = ROOT / "README.md"
DEMO = ROOT / "src" / "comfyctl" / "cli" / "demo_workflow.json"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_has_examples() -> None:
    cmds = readme_commands()
    assert len(cmds) >= 20 and all("comfyctl" in c for c in cmds)
    assert README.read_text().startswith("# comfyctl\n\nRun the main job on a fresh machine")


def test_readme_examples_run(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMFYUI_URL", sandbox.url)
    shutil.copy(DEMO, tmp_path / "workflow.json")
    shutil.copy(fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json", tmp_path / "graph.json")
    shutil.copy(fixtures_dir / "object_info.json", tmp_path / "object_info.json")
    with socket.socket() as s:  # the README's "server down" URL, made certainly closed here
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    variables: dict[str, str] = {}
    for line in readme_commands():
        command, _, comment = line.partition(" #")
        m = re.search(r"exit (\d+)", comment)
        expected = int(m.group(1)) if m else 0
        target = None
        assign = re.match(r"(\w+)=\$\((.*)\)$", command.strip())
        if assign:
            target, command = assign.group(1), assign.group(2)
        for name, value in variables.items():
            command = command.replace(f"${name}", value)
        command = command.replace("http://127.0.0.1:9 ", f"{closed} ")
        argv = shlex.split(command)
        assert argv[0] == "comfyctl", line
        out = invoke(*argv[1:])
        assert out.code == expected, (line, out.stdout[-500:], out.stderr[-1000:])
        assert "Traceback" not in out.stderr
        if target:
            variables[target] = out.stdout.strip()
    assert (tmp_path / "result.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "api.json").is_file()
    assert list((tmp_path / "projects" / "later" / "workflows").glob("workflow*.json"))
