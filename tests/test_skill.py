"""The agent skill: one source (package file == skills/comfyui/SKILL.md), its format, and every
command it shows run against the sandbox with the exit code it promises."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from comfyctl.cli.agent_cmds import SKILL_FILE
from comfyctl.cli.main import cli
from comfyctl.testing import Sandbox
from mcp_support import DEMO, ROOT

REPO_SKILL = ROOT / "skills" / "comfyui" / "SKILL.md"
TEXT = SKILL_FILE.read_text(encoding="utf-8")


def test_one_source_the_repo_copy_is_identical() -> None:
    assert REPO_SKILL.read_text(encoding="utf-8") == TEXT


def test_front_matter_and_coverage() -> None:
    assert TEXT.startswith("---\n")
    front, body = TEXT[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert meta["name"] == "comfyui" and len(meta["description"]) > 100
    commands = {" ".join(line.split()[:2]) for line in _commands()}
    for seed in (
        "comfyctl status",
        "comfyctl run",
        "comfyctl wait",
        "comfyctl watch",
        "comfyctl download",
        "comfyctl upload",
        "comfyctl cancel",
        "comfyctl free",
        "comfyctl inventory",
        "comfyctl check",
        "comfyctl export",
        "comfyctl offline",
    ):
        assert seed in commands, seed
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+) \| [^|]+ \|$", body, flags=re.M))
    readme = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|$", (ROOT / "README.md").read_text(), flags=re.M))
    assert table.keys() == readme.keys() and len(table) == 12  # every exit code, with what to do


def test_comfyctl_skill_prints_and_installs(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["skill"])
    assert out.exit_code == 0 and out.stdout == TEXT
    got = runner.invoke(cli, ["skill", "--install", str(tmp_path / "skills"), "--json"])
    target = tmp_path / "skills" / "comfyui" / "SKILL.md"
    assert got.exit_code == 0 and json.loads(got.stdout) == {"installed": str(target)}
    assert target.read_text(encoding="utf-8") == TEXT
    assert runner.invoke(cli, ["skill", "--install", str(tmp_path / "skills")]).exit_code == 0  # same: fine
    target.write_text("mine")
    refused = runner.invoke(cli, ["skill", "--install", str(tmp_path / "skills")])
    assert refused.exit_code == 2 and target.read_text() == "mine"  # nothing lost
    forced = runner.invoke(cli, ["skill", "--install", str(tmp_path / "skills"), "--overwrite"])
    assert forced.exit_code == 0 and target.read_text(encoding="utf-8") == TEXT


def _commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", TEXT, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_command_the_skill_shows_runs_on_the_sandbox(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMFYUI_URL", sandbox.url)
    shutil.copy(DEMO, tmp_path / "workflow.json")
    shutil.copy(sandbox.input_dir / "example.png", tmp_path / "photo.png")
    runner = CliRunner()
    variables: dict[str, str] = {}
    ran = 0
    for line in _commands():
        command, _, comment = line.partition("  #")
        expected = int(m[1]) if (m := re.search(r"exit (\d+)", comment)) else 0
        assign = re.fullmatch(r"([A-Z]+)=\$\((.*)\)", command.strip())
        shell = assign[2] if assign else command
        for name, value in variables.items():
            shell = shell.replace(f"${name}", value)
        argv = shlex.split(shell)
        assert argv[0] == "comfyctl", line
        result = runner.invoke(cli, argv[1:])
        assert result.exit_code == expected, (line, result.stdout[-800:], result.stderr[-800:])
        if "--json" in argv:
            json.loads(result.stdout)  # exactly one JSON document, errors included
        if assign:
            variables[assign[1]] = result.stdout.strip()
            assert variables[assign[1]], line
        ran += 1
    assert ran >= 20 and "ID" in variables
    assert list((tmp_path / "outputs").glob("*.png"))  # run / wait / download saved files
