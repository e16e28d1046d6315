"""Any valid workflow runs end to end on the sandbox: every API workflow of tests/data/fixtures/ui2api/.

The workflows name model files and images the sandbox does not have; like a user would, the test drops
empty files with those names into the sandbox's models/ and input/ folders (the combos list them at
request time), then the prompt must be accepted and finish with ``success``, every output node
reporting a UI dict of the §9 shape.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyctl.testing import Sandbox
from comfyctl.testing.app import _combo_folder
from conftest import FIXTURES
from sandbox_helpers import HTTP

WORKFLOWS = sorted((FIXTURES / "ui2api").glob("*.api.json"))
#: Exported from a graph with a muted node: required inputs are missing, the server rejects it too.
INVALID = {"edge_muted.api.json"}


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Sandbox(root=tmp_path_factory.mktemp("wf")) as sandbox:
        yield sandbox


def provide_files(sb: Sandbox, prompt: dict[str, Any], errors: dict[str, Any]) -> bool:
    """Create the model/input files the rejection names; False when nothing could be fixed."""
    info = HTTP.get(sb.url + "/object_info").json()
    fixed = False
    for node_id, node_errors in errors.items():
        class_type = prompt[node_id]["class_type"]
        for error in node_errors["errors"]:
            name = error["extra_info"].get("input_name")
            value = prompt[node_id]["inputs"].get(name)
            spec = info[class_type]["input"]["required"].get(name)
            if error["type"] == "value_not_in_list" and (folder := _combo_folder(class_type, name, spec)):
                assert sb.root is not None
                path = sb.root / folder / str(value)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
                fixed = True
            elif error["type"] == "custom_validation_failed":
                path = sb.input_dir / str(value)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (16, 16)).save(path, format="PNG")
                fixed = True
    return fixed


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_runs_end_to_end(sb: Sandbox, path: Path) -> None:
    prompt = json.loads(path.read_text())
    for _ in range(4):
        response = HTTP.post(sb.url + "/prompt", json={"prompt": prompt})
        if response.status_code != 400 or not provide_files(sb, prompt, response.json()["node_errors"]):
            break
    if path.name in INVALID:
        assert response.status_code == 400
        return
    assert response.status_code == 200, response.text
    prompt_id = response.json()["prompt_id"]
    deadline = time.monotonic() + 30
    while not (entry := HTTP.get(f"{sb.url}/history/{prompt_id}").json()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = entry[prompt_id]
    assert result["status"]["status_str"] == "success", result["status"]["messages"][-1]
    for outputs in result["outputs"].values():
        for key, items in outputs.items():
            assert isinstance(items, list)
            if key not in ("animated", "text"):
                assert all({"filename", "subfolder", "type"} <= set(item) for item in items)
