"""validate_prompt against every answer captured from a real ComfyUI 0.8.0 (tests/data/fixtures/errors/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from comfyctl.nodedefs import NodeDefs
from comfyctl.testing.tracebacks import format_frame
from comfyctl.workflow.validate import (
    FILE_LOADERS,
    file_validator,
    model_folder,
    validate_prompt,
    validate_request,
)
from conftest import FIXTURES

ERRORS = sorted((FIXTURES / "errors").glob("*.json"))


@pytest.fixture(scope="module")
def defs() -> NodeDefs:
    return NodeDefs.from_file(FIXTURES / "object_info.json")


def _frame_shape(line: str) -> tuple[str, str, str]:
    """A traceback line as (file basename, line number, function): the install path differs."""
    match = re.match(r'  File "(?:.*/)?([^/"]+)", line (\d+), in (\w+)\n', line)
    assert match, line
    return match.group(1), match.group(2), match.group(3)


def normalise(value: Any, key: str = "") -> Any:
    """Make set-ordered lists (errors in a node, dependent_outputs) and tracebacks comparable."""
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "traceback":
            return [_frame_shape(line) for line in value]
        items = [normalise(v) for v in value]
        if key in ("errors", "dependent_outputs"):
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


def _exists_only_in_snapshot(name: str) -> bool:
    # The captures were made with ComfyUI's shipped input/example.png only.
    return name == "example.png"


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_fixture_case(path: Path, defs: NodeDefs) -> None:
    case = json.loads(path.read_text())
    if "request_body" not in case:
        try:
            request = json.loads(case["request_raw"])
        except json.JSONDecodeError:
            # Not JSON at all: aiohttp's request.json() raises before any validation.
            assert case["status"] == 500
            return
    else:
        request = case["request_body"]
    validators = {"LoadImage": file_validator("image", _exists_only_in_snapshot)}
    verdict = validate_request(request, defs, custom_validators=validators, format_frame=format_frame)
    assert verdict.status == case["status"]
    if verdict.status == 500:
        assert verdict.body["exception_type"]
        return
    expected = dict(case["response"])
    if verdict.status == 200:
        expected = {"node_errors": expected["node_errors"]}
    assert normalise(verdict.body) == normalise(expected)


def test_verdict_prompt_is_coerced_copy(defs: NodeDefs) -> None:
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": "16", "height": 16.9, "batch_size": True, "color": 0},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": 5}},
    }
    verdict = validate_prompt(prompt, defs, format_frame=format_frame)
    assert verdict.status == 200, verdict.body
    assert verdict.outputs == ("2",)
    assert verdict.prompt["1"]["inputs"] == {"width": 16, "height": 16, "batch_size": 1, "color": 0}
    assert verdict.prompt["2"]["inputs"]["filename_prefix"] == "5"
    # the caller's prompt is left alone
    assert prompt["1"]["inputs"]["width"] == "16"


WORKFLOWS = sorted((FIXTURES / "workflows").glob("*.json"))
UI2API = sorted((FIXTURES / "ui2api").glob("*.api.json"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_captured_workflows_are_accepted(path: Path, defs: NodeDefs) -> None:
    """These prompts ran on the real server, so it accepted every output of each."""
    data = json.loads(path.read_text())
    prompt = data["prompt"] if "prompt" in data and "class_type" not in data["prompt"] else data
    verdict = validate_prompt(
        prompt, defs, format_frame=format_frame
    )  # the files they load existed when they ran
    assert (verdict.status, verdict.body) == (200, {"node_errors": {}})
    outputs = {k for k, v in prompt.items() if defs[v["class_type"]].is_output_node}
    assert set(verdict.outputs) == outputs


def _api_node(defs: NodeDefs, class_type: str) -> bool:
    return bool(defs[class_type].raw.get("api_node"))


@pytest.mark.parametrize("path", UI2API, ids=[p.name.removesuffix(".api.json") for p in UI2API])
def test_frontend_prompts_fail_only_for_missing_files(path: Path, defs: NodeDefs) -> None:
    """What the official frontend produced is valid except for files this CPU server does not have.

    With the snapshot's files (no models, only input/example.png), the real server can only
    object to model-file combos, input files for loaders, and inputs of nodes whose upstream
    was dropped by muting/bypassing in the editor (the frontend sends those without the link).
    """
    prompt = json.loads(path.read_text())
    validators = {"LoadImage": file_validator("image", _exists_only_in_snapshot)}
    verdict = validate_prompt(prompt, defs, custom_validators=validators, format_frame=format_frame)
    for node_id, entry in verdict.body.get("node_errors", {}).items():
        for error in entry["errors"]:
            name = error["extra_info"].get("input_name")
            value = prompt[node_id]["inputs"].get(name)
            if error["type"] == "value_not_in_list":
                assert model_folder(entry["class_type"], name, value) is not None, error
            elif error["type"] == "custom_validation_failed":
                assert entry["class_type"] in FILE_LOADERS, error
            elif error["type"] == "required_input_missing":
                assert path.name.startswith(("edge_bypass", "edge_muted", "edge_dangling")), error
            else:
                assert _api_node(defs, entry["class_type"]), error
    if verdict.status == 200:
        assert verdict.outputs
