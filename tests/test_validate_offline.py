"""describe_rejection (readable problems) and validate/check (offline validation with extras)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyctl.errors import NodeProblem, ValidationError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow.validate import (
    check,
    describe_rejection,
    find_cycles,
    model_folder,
    validate,
    validate_prompt,
)
from conftest import FIXTURES, load_json


@pytest.fixture(scope="module")
def defs() -> NodeDefs:
    return NodeDefs.from_file(FIXTURES / "object_info.json")


def fixture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    case = json.loads((FIXTURES / "errors" / f"{name}.json").read_text())
    return case["response"], case["request_body"].get("prompt")


def texts(problems: list[NodeProblem]) -> list[str]:
    return [p["text"] for p in problems]


# --- describe_rejection on real server answers -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "value_not_in_list",
            "node 2 (ImageScale) input 'upscale_method': 'super-resolution' is not one of "
            "nearest-exact, bilinear, area, bicubic, lanczos",
        ),
        (
            "link_to_nonexistent_node_from_output",
            "node 2 (SaveImage) input 'images': links to node 99, which does not exist",
        ),
        (
            "link_to_nonexistent_node_upstream",
            "node 2 (ImageInvert) input 'image': links to node 99, which does not exist",
        ),
        (
            "link_node_id_as_int",
            "node 2 (PreviewImage) input 'images': links to node 1 as a number; node ids in "
            'links are strings: ["1", 0]',
        ),
        (
            "link_slot_out_of_range",
            "node 2 (SaveImage) input 'images': links to output 5 of node 1 (EmptyImage), "
            "which has no such output",
        ),
        ("required_input_missing", "node 1 (EmptyImage) input 'width': required input is missing"),
        (
            "return_type_mismatch",
            "node 2 (SaveImage) input 'images': output 0 of node 1 (SolidMask) is MASK, "
            "but this input takes IMAGE",
        ),
        (
            "custom_validation_loadimage_missing_file",
            "node 1 (LoadImage) input 'image': image file "
            "'does_not_exist.png' is not on the server (upload it first)",
        ),
        ("shared_upstream_error_two_outputs", "node 1 (EmptyImage) input 'width': 0 is below the minimum 1"),
        (
            "missing_node_type",
            "node 1 (DoesNotExist): node type 'DoesNotExist' is not installed on the server "
            "(a custom node pack is missing?)",
        ),
    ],
)
def test_one_line_per_problem(name: str, line: str) -> None:
    body, prompt = fixture(name)
    summary, problems = describe_rejection(body, prompt)
    assert texts(problems) == [line]
    assert summary.endswith(line)
    problem = problems[0]
    assert set(problem) >= {"node_id", "class_type", "type", "message", "details", "input_name", "text"}


def test_upstream_only_error_is_still_named() -> None:
    body, prompt = fixture("value_out_of_range")
    assert body["error"]["details"] == ""  # the server's summary says nothing
    summary, problems = describe_rejection(body, prompt)
    assert sorted(texts(problems)) == [
        "node 1 (EmptyImage) input 'height': 99999 is above the maximum 16384",
        "node 1 (EmptyImage) input 'width': 0 is below the minimum 1",
    ]
    assert summary.startswith("workflow rejected: 2 problems on 1 node; first: node 1 (EmptyImage)")
    assert all(p["dependent_outputs"] == ["2"] for p in problems)


@pytest.mark.parametrize(
    "name", ["no_outputs", "no_prompt_key", "missing_class_type", "partial_execution_targets_non_output"]
)
def test_empty_node_errors_still_give_a_problem(name: str) -> None:
    case = json.loads((FIXTURES / "errors" / f"{name}.json").read_text())
    summary, problems = describe_rejection(case["response"], case["request_body"].get("prompt"))
    assert len(problems) == 1 and problems[0]["type"] == case["response"]["error"]["type"]
    assert summary.endswith(problems[0]["text"])
    assert "nothing to run" in summary or "no 'prompt'" in summary or "no class_type" in summary


def test_without_the_prompt_exceptions_are_still_explained() -> None:
    cases = {
        "link_to_nonexistent_node_from_output": "a link points to node 99, which does not exist",
        "link_node_id_as_int": 'a link names node 1 as a number; node ids in links are strings ("1")',
        "link_slot_as_string": "a link's output index is not an integer",
        "link_slot_out_of_range": "a link points to an output index the linked node does not have",
    }
    for name, words in cases.items():
        body, _ = fixture(name)
        _, problems = describe_rejection(body)
        assert words in problems[0]["text"], name


def test_partial_success_summary_names_the_dropped_output() -> None:
    case = json.loads((FIXTURES / "errors" / "partial_success_one_output_invalid.json").read_text())
    summary, problems = describe_rejection(case["response"], case["request_body"]["prompt"])
    assert summary.startswith("the server would accept it, but output 4 would not run: node 3 (ImageScale)")
    assert len(problems) == 1


def test_did_you_mean_and_long_lists(defs: NodeDefs) -> None:
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "bicubc",
                "width": 8,
                "height": 8,
                "crop": "disabled",
            },
        },
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
        "4": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "eulr"}},
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}},
    }
    _, problems = describe_rejection(validate_prompt(prompt, defs).body, prompt)
    assert "(did you mean 'bicubic'?)" in problems[0]["text"]
    assert problems[1]["text"].startswith(
        "node 4 (KSamplerSelect) input 'sampler_name': 'eulr' is not one of the "
    )
    assert "choices the server offers" in problems[1]["text"]


def test_cycle_answer_is_explained_with_the_prompt(defs: NodeDefs) -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    body = validate_prompt(prompt, defs).body
    _, problems = describe_rejection(body, prompt)
    assert [p["type"] for p in problems] == ["dependency_cycle"]
    assert problems[0]["cycle"] == ["1", "2", "1"]
    _, blind = describe_rejection(body)
    assert "cycle" in blind[0]["text"]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"error": "x"},
        {"node_errors": {"1": 5}},
        {"error": {"type": 3}},
        {"node_errors": {"1": {"errors": [None, {"extra_info": []}]}}},
    ],
)
def test_garbage_bodies_never_raise(body: Any) -> None:
    summary, problems = describe_rejection(body)
    assert isinstance(summary, str) and summary
    assert all(isinstance(p["text"], str) for p in problems)


def test_crash_verdict_is_described(defs: NodeDefs) -> None:
    prompt: Any = {"1": ["class_type"]}
    verdict = validate_prompt(prompt, defs)
    summary, problems = describe_rejection(verdict.body, prompt)
    assert verdict.status == 500
    assert problems[0]["type"] == "malformed_prompt"
    assert summary == (
        "the server would fail on this workflow: "
        'node 1: must be an object with class_type and inputs, not ["class_type"]'
    )


# --- validate / check ------------------------------------------------------------------------


def sd15(ckpt: str = "v1-5.safetensors") -> dict[str, Any]:
    return load_json((FIXTURES / "ui2api" / "default.api.json").read_text()) | {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}
    }


def test_missing_model_is_called_out_with_its_folder(defs: NodeDefs) -> None:
    report = validate(sd15(), defs)
    assert not report.ok and report.verdict.status == 400
    (problem,) = report.problems
    assert (problem["type"], problem["folder"], problem["node_id"]) == ("missing_model", "checkpoints", "4")
    assert problem["text"] == (
        "node 4 (CheckpointLoaderSimple) input 'ckpt_name': model file 'v1-5.safetensors' is not on the "
        "server: put it in models/checkpoints/ (that folder is empty on the server)"
    )


def test_models_listing_overrides_the_snapshot(defs: NodeDefs) -> None:
    assert validate(sd15(), defs, models={"checkpoints": ["v1-5.safetensors"]}).ok
    report = validate(sd15(), defs, models={"checkpoints": ["other.safetensors", "b.ckpt"]})
    assert "(the server has 2 other files there)" in report.problems[0]["text"]


@pytest.mark.parametrize(
    ("class_type", "name", "value", "folder"),
    [
        ("LoraLoader", "lora_name", "x", "loras"),
        ("VAELoader", "vae_name", "x", "vae"),
        ("UNETLoader", "unet_name", "x", "diffusion_models"),
        ("CLIPLoader", "clip_name", "x", "text_encoders"),
        ("CLIPVisionLoader", "clip_name", "x", "clip_vision"),
        ("DualCLIPLoader", "clip_name2", "x", "text_encoders"),
        ("SomePack.Loader", "lora_name", "x", "loras"),
        ("SomePack.Loader", "weights", "w.gguf", ""),
        ("ImageScale", "upscale_method", "x", None),
        ("SomePack.Loader", "weights", "fast", None),
    ],
)
def test_model_folder(class_type: str, name: str, value: str, folder: str | None) -> None:
    assert model_folder(class_type, name, value) == folder


def test_every_unknown_type_is_listed(defs: NodeDefs) -> None:
    report = validate(
        {
            "1": {"class_type": "A", "inputs": {}},
            "2": {"class_type": "SaveImage", "inputs": {}},
            "3": {"class_type": "B", "inputs": {}},
        },
        defs,
    )
    assert [(p["node_id"], p["class_type"]) for p in report.problems] == [("1", "A"), ("3", "B")]
    assert report.verdict.body["error"]["details"] == "Node ID '#1'"  # the server names only the first


def test_nodes_behind_a_failed_link_are_checked_too(defs: NodeDefs) -> None:
    # The server stops at the mismatch and never looks at node 1; offline we report both.
    prompt = {
        "1": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 0, "height": 8}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    server = validate_prompt(prompt, defs).body["node_errors"]
    assert list(server) == ["2"]
    report = validate(prompt, defs)
    assert {(p["node_id"], p["type"]) for p in report.problems} == {
        ("1", "value_smaller_than_min"),
        ("2", "return_type_mismatch"),
    }
    assert report.verdict.prompt["1"]["inputs"]["width"] == 0


def test_cycles_reported_once(defs: NodeDefs) -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        "4": {"class_type": "ImageInvert", "inputs": {"image": ["4", 0]}},
    }  # unreachable self-loop
    report = validate(prompt, defs)
    assert [p["cycle"] for p in report.problems] == [["1", "2", "1"]]
    assert find_cycles(prompt) == [["1", "2", "1"], ["4", "4"]]


def test_input_files(defs: NodeDefs) -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "mine.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    report = validate(prompt, defs)  # not in LoadImage's list of the snapshot
    assert [p["type"] for p in report.problems] == ["custom_validation_failed"]
    assert validate(prompt, defs, input_files=["mine.png"]).ok
    prompt["1"]["inputs"]["image"] = "sub/mine.png"  # subfolders are not listed: not judged offline
    assert validate(prompt, defs).ok


def test_check_raises_validation_error(defs: NodeDefs) -> None:
    with pytest.raises(ValidationError) as info:
        check(sd15(), defs)
    err = info.value
    assert err.exit_code == 4 and err.code == "invalid_workflow"
    assert err.problems[0]["type"] == "missing_model"
    assert err.details["status"] == 400
    assert err.message.startswith("workflow rejected: node 4 (CheckpointLoaderSimple)")
    ok = check(json.loads((FIXTURES / "workflows" / "success.json").read_text()), defs)
    assert ok.ok and ok.outputs


def test_partial_success_is_not_ok(defs: NodeDefs) -> None:
    case = json.loads((FIXTURES / "errors" / "partial_success_one_output_invalid.json").read_text())
    report = validate(case["request_body"]["prompt"], defs)
    assert report.verdict.status == 200 and not report.ok
    assert report.summary.startswith("the server would accept it, but output 4 would not run")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == 200 and data["outputs"] == ["2"]


def test_validate_never_raises_on_garbage(defs: NodeDefs) -> None:
    junk: Any
    for junk in ([1], "x", {"1": None}, {"nodes": [], "links": []}, {"1": {"class_type": 5, "inputs": []}}):
        report = validate(junk, defs)
        assert not report.ok and report.problems
    ui = validate({"nodes": [{"id": 1}], "links": []}, defs)
    assert "UI-format" in ui.problems[0]["text"]


def test_the_out_of_range_link_is_the_one_blamed(defs: NodeDefs) -> None:
    load = {"class_type": "LoadImage", "inputs": {"image": "example.png"}}
    blend = {
        "class_type": "ImageBlend",
        "inputs": {"image1": ["1", 1], "image2": ["1", 2], "blend_factor": 0.5, "blend_mode": "normal"},
    }
    prompt = {"1": load, "2": blend, "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    body = validate_prompt(prompt, defs).body
    # image1 -> output 1 (MASK) exists; image2 -> output 2 does not (LoadImage has 2 outputs)
    _, problems = describe_rejection(body, prompt, defs=defs)
    assert [p["input_name"] for p in problems if p["type"].startswith("exception")] == ["image2"]
    assert "links to output 2 of node 1 (LoadImage), which has no such output" in problems[-1]["text"]


def test_check_hints_follow_the_problem(defs: NodeDefs) -> None:
    with pytest.raises(ValidationError) as info:
        check(sd15(), defs)
    assert "models" in info.value.hint
    with pytest.raises(ValidationError) as info:
        check({"1": {"class_type": "SomePack", "inputs": {}}}, defs)
    assert "custom node packs" in info.value.hint
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    with pytest.raises(ValidationError) as info:
        check(prompt, defs)
    assert info.value.hint == ValidationError.default_hint


def test_wrapper_instead_of_prompt_is_explained(defs: NodeDefs) -> None:
    prompt = json.loads((FIXTURES / "workflows" / "success.json").read_text())
    report = validate({"prompt": prompt, "client_id": "x"}, defs)
    assert 'pass the value of its "prompt" key' in report.problems[0]["text"]


def test_exceptions_that_are_not_link_faults_are_not_blamed_on_links() -> None:
    error = {
        "type": "exception_during_validation",
        "message": "Exception when validating node",
        "details": "'original_model_task_id'",
        "extra_info": {"exception_type": "KeyError", "traceback": []},
    }
    body = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "", "details": "", "extra_info": {}},
        "node_errors": {
            "1": {"errors": [error], "dependent_outputs": ["1"], "class_type": "TripoConversionNode"}
        },
    }
    prompt = {"1": {"class_type": "TripoConversionNode", "inputs": {"original_model_task_id": "abc"}}}
    for given in (prompt, None):
        (problem,) = describe_rejection(body, given)[1]
        assert problem["text"] == (
            "node 1 (TripoConversionNode): the server's validation raised KeyError: 'original_model_task_id'"
        )
