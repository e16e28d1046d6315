"""The gates of the test command hold: one version source, pinned dev tools, a biting import contract."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import comfyctl
from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_version_is_written_once() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/comfyctl/__init__.py"
    assert version("comfyctl") == comfyctl.__version__


def test_dev_tools_are_pinned_exactly() -> None:
    tools = [r for r in PYPROJECT["project"]["optional-dependencies"]["dev"] if not r.startswith("comfyctl[")]
    assert tools and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", r) for r in tools), tools


def _lint_copy(tmp_path: Path, edits: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """lint-imports with this pyproject over a copy of the package, with ``edits`` appended to modules."""
    shutil.copytree(ROOT / "src" / "comfyctl", tmp_path / "comfyctl", ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in edits.items():
        path = tmp_path / (module.replace(".", "/") + ".py")
        path.write_text(path.read_text() + f"\n{line}\n")
    # the copy is not the package under test: no coverage for the subprocess (see [tool.coverage.run])
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")} | {
        "PYTHONPATH": str(tmp_path)
    }
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def test_import_contract_holds_on_the_package_and_breaks_on_each_layering_fault(tmp_path: Path) -> None:
    clean = _lint_copy(tmp_path / "clean", {})
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "3 kept, 0 broken" in clean.stdout
    faults = {
        "comfyctl.workflow.widgets": "import asyncio",  # a pure module doing I/O
        "comfyctl.results": "import comfyctl.cli.progress",  # the library importing the CLI
        "comfyctl.settings": "import comfyctl.testing.faults",  # the library importing the test double
    }
    broken = _lint_copy(tmp_path / "broken", faults)
    assert broken.returncode != 0
    assert "0 kept, 3 broken" in broken.stdout, broken.stdout
    for line in (
        "comfyctl.workflow.widgets -> asyncio",
        "comfyctl.results -> comfyctl.cli.progress",
        "comfyctl.settings -> comfyctl.testing.faults",
    ):
        assert line in broken.stdout


@pytest.mark.parametrize("module", ["comfyctl.errors", "comfyctl.workflow.validate.rules"])
def test_pure_modules_stay_pure_of_the_wire(tmp_path: Path, module: str) -> None:
    broken = _lint_copy(tmp_path, {module: "import httpx"})
    assert broken.returncode != 0 and f"{module} -> httpx" in broken.stdout, broken.stdout
