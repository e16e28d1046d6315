"""validate_prompt, one server rule at a time, on small hand-built prompts (ComfyUI 0.8.0 semantics)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyctl.nodedefs import NodeDefs
from comfyctl.testing.tracebacks import TRACEBACK_ROOT, format_frame
from comfyctl.workflow.validate import (
    KNOWN_VALIDATORS,
    ValidatorSpec,
    file_validator,
    validate_prompt,
    validate_request,
)
from conftest import FIXTURES


@pytest.fixture(scope="module")
def defs() -> NodeDefs:
    return NodeDefs.from_file(FIXTURES / "object_info.json")


def image(width: Any = 16, height: Any = 16) -> dict[str, Any]:
    return {
        "class_type": "EmptyImage",
        "inputs": {"width": width, "height": height, "batch_size": 1, "color": 0},
    }


def preview(link: Any) -> dict[str, Any]:
    return {"class_type": "PreviewImage", "inputs": {"images": link}}


def errors_of(verdict: Any, node: str) -> list[dict[str, Any]]:
    return list(verdict.body["node_errors"][node]["errors"])


def only_error(verdict: Any, node: str) -> dict[str, Any]:
    (error,) = errors_of(verdict, node)
    return error


# --- top level -------------------------------------------------------------------------------


def test_valid_prompt_is_200_with_outputs(defs: NodeDefs) -> None:
    verdict = validate_prompt({"1": image(), "2": preview(["1", 0]), "3": preview(["1", 0])}, defs)
    assert (verdict.status, verdict.body, verdict.outputs) == (200, {"node_errors": {}}, ("2", "3"))
    assert verdict.ok


def test_missing_class_type_names_first_bad_node_in_prompt_order(defs: NodeDefs) -> None:
    verdict = validate_prompt({"2": preview(["1", 0]), "7": {"inputs": {}}, "1": {"inputs": {}}}, defs)
    assert verdict.status == 400
    assert verdict.body == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because a node is missing the class_type property.",
            "details": "Node ID '#7'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_unknown_class_is_invalid_prompt(defs: NodeDefs) -> None:
    verdict = validate_prompt({"5": {"class_type": "NoSuchNode", "inputs": {}}}, defs)
    assert verdict.body["error"]["message"] == "Cannot execute because node NoSuchNode does not exist."
    assert verdict.body["error"]["details"] == "Node ID '#5'"


def test_no_output_node(defs: NodeDefs) -> None:
    verdict = validate_prompt({"1": image()}, defs)
    assert verdict.status == 400
    assert verdict.body["error"]["type"] == "prompt_no_outputs"


@pytest.mark.parametrize("targets", [["1"], [], ["9"]])
def test_partial_targets_without_an_output_node(defs: NodeDefs, targets: list[str]) -> None:
    verdict = validate_prompt({"1": image(), "2": preview(["1", 0])}, defs, partial_execution_targets=targets)
    assert verdict.body["error"]["type"] == "prompt_no_outputs"


def test_partial_targets_select_outputs(defs: NodeDefs) -> None:
    prompt = {"1": image(), "2": preview(["1", 0]), "3": image(width=0), "4": preview(["3", 0])}
    verdict = validate_prompt(prompt, defs, partial_execution_targets=["2"])
    assert (verdict.status, verdict.outputs, verdict.body) == (200, ("2",), {"node_errors": {}})


def test_partial_success_is_200_with_node_errors(defs: NodeDefs) -> None:
    verdict = validate_prompt(
        {"1": image(), "2": preview(["1", 0]), "3": image(width=0), "4": preview(["3", 0])}, defs
    )
    assert verdict.status == 200
    assert verdict.outputs == ("2",)
    assert list(verdict.body["node_errors"]) == ["3"]
    assert verdict.body["node_errors"]["3"]["dependent_outputs"] == ["4"]


def test_details_join_only_errors_of_output_nodes(defs: NodeDefs) -> None:
    prompt = {
        "1": image(width=0),
        "2": preview(["1", 0]),
        "3": preview(["1", 7]),
        "4": {"class_type": "PreviewImage"},
    }
    verdict = validate_prompt(prompt, defs)
    details = verdict.body["error"]["details"].split("\n")
    # node 1's own error (upstream) is not in details; the two output nodes' errors are, in output order
    assert details == [
        "Exception when validating node: tuple index out of range",
        "Exception when validating node: 'inputs'",
    ]


def test_dependent_outputs_quirk_appends_later_failing_outputs(defs: NodeDefs) -> None:
    # Server quirk: a node with errors gets every output that fails after it was validated,
    # even an output that does not depend on it (here node 1 gets output 4).
    prompt = {"1": image(width=0), "2": preview(["1", 0]), "3": image(height=0), "4": preview(["3", 0])}
    body = validate_prompt(prompt, defs).body
    assert body["node_errors"]["1"]["dependent_outputs"] == ["2", "4"]
    assert body["node_errors"]["3"]["dependent_outputs"] == ["4"]


# --- per input -------------------------------------------------------------------------------


def test_required_input_missing(defs: NodeDefs) -> None:
    verdict = validate_prompt(
        {"1": {"class_type": "EmptyImage", "inputs": {"width": 8}}, "2": preview(["1", 0])}, defs
    )
    missing = sorted(e["details"] for e in errors_of(verdict, "1"))
    assert missing == ["batch_size", "color", "height"]
    assert all(e["extra_info"] == {"input_name": e["details"]} for e in errors_of(verdict, "1"))
    assert verdict.body["error"]["details"] == ""  # the fault is upstream of the output


def test_optional_inputs_may_be_absent(defs: NodeDefs) -> None:
    prompt = {"1": image(), "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    verdict = validate_prompt(prompt, defs)
    assert verdict.status == 400  # filename_prefix is required
    prompt["2"]["inputs"]["filename_prefix"] = "x"
    prompt["3"] = {
        "class_type": "ImageStitch",
        "inputs": {
            "image1": ["1", 0],
            "direction": "right",
            "match_image_size": True,
            "spacing_width": 0,
            "spacing_color": "white",
        },
    }
    prompt["4"] = preview(["3", 0])
    assert validate_prompt(prompt, defs).status == 200  # image2 is optional


def test_bad_linked_input(defs: NodeDefs) -> None:
    error = only_error(validate_prompt({"1": image(), "2": preview(["1", 0, 1])}, defs), "2")
    assert error["type"] == "bad_linked_input"
    assert error["extra_info"]["received_value"] == ["1", 0, 1]
    assert error["extra_info"]["input_config"][0] == "IMAGE"


def test_return_type_mismatch(defs: NodeDefs) -> None:
    mask = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
    error = only_error(validate_prompt({"1": mask, "2": preview(["1", 0])}, defs), "2")
    assert error["type"] == "return_type_mismatch"
    assert error["details"] == "images, received_type(MASK) mismatch input_type(IMAGE)"
    assert error["extra_info"]["linked_node"] == ["1", 0]


def test_any_type_and_comma_union_and_matchtype_accept_links(defs: NodeDefs) -> None:
    mask = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
    prompt = {
        "1": mask,
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},  # "*"
        "3": {
            "class_type": "ResizeImageMaskNode",
            "inputs": {  # IMAGE,MASK union via MatchType
                "input": ["1", 0],
                "resize_type": "scale by multiplier",
                "resize_type.multiplier": 2.0,
                "scale_method": "area",
            },
        },
        "4": {"class_type": "MaskPreview", "inputs": {"mask": ["3", 0]}},  # COMFY_MATCHTYPE_V3 output
    }
    verdict = validate_prompt(prompt, defs)
    assert (verdict.status, verdict.body) == (200, {"node_errors": {}})


def test_invalid_input_type(defs: NodeDefs) -> None:
    error = only_error(validate_prompt({"1": image(width="wide"), "2": preview(["1", 0])}, defs), "1")
    assert error["type"] == "invalid_input_type"
    assert error["message"] == "Failed to convert an input value to a INT value"
    assert error["details"] == "width, wide, invalid literal for int() with base 10: 'wide'"


def test_min_and_max(defs: NodeDefs) -> None:
    verdict = validate_prompt({"1": image(width=0, height=99999), "2": preview(["1", 0])}, defs)
    by_type = {e["type"]: e for e in errors_of(verdict, "1")}
    assert by_type["value_smaller_than_min"]["message"] == "Value 0 smaller than min of 1"
    assert by_type["value_bigger_than_max"]["message"] == "Value 99999 bigger than max of 16384"
    assert by_type["value_bigger_than_max"]["extra_info"]["received_value"] == 99999


def test_value_not_in_list_short_and_long(defs: NodeDefs) -> None:
    scale = {
        "class_type": "ImageScale",
        "inputs": {"image": ["1", 0], "upscale_method": "nope", "width": 8, "height": 8, "crop": "disabled"},
    }
    error = only_error(validate_prompt({"1": image(), "2": scale, "3": preview(["2", 0])}, defs), "2")
    assert (
        error["details"]
        == "upscale_method: 'nope' not in ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']"
    )
    assert error["extra_info"]["input_config"] == [
        ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],
        {},
    ]
    # more than 20 choices: the server does not echo the list
    sampler = defs["KSamplerSelect"].input("sampler_name")
    assert sampler is not None and sampler.choices is not None and len(sampler.choices) > 20
    prompt = {
        "1": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "nope"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    error = only_error(validate_prompt(prompt, defs), "1")
    assert error["details"] == f"sampler_name: 'nope' not in (list of length {len(sampler.choices)})"
    assert error["extra_info"]["input_config"] is None


def test_coercion_in_place_on_a_copy(defs: NodeDefs) -> None:
    prompt: dict[str, Any] = {
        "1": {"class_type": "PrimitiveBoolean", "inputs": {"value": "false"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "PrimitiveFloat", "inputs": {"value": "1.5"}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    verdict = validate_prompt(prompt, defs)
    assert verdict.prompt["1"]["inputs"]["value"] is True  # bool("false"): the server's quirk
    assert verdict.prompt["3"]["inputs"]["value"] == 1.5
    assert prompt["1"]["inputs"]["value"] == "false"


def test_value_wrapper_is_unwrapped(defs: NodeDefs) -> None:
    scale = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": {"__value__": "area"},
            "width": 8,
            "height": 8,
            "crop": "disabled",
        },
    }
    verdict = validate_prompt({"1": image(), "2": scale, "3": preview(["2", 0])}, defs)
    assert verdict.status == 200
    assert verdict.prompt["2"]["inputs"]["upscale_method"] == "area"


def test_unknown_inputs_are_ignored_and_kept(defs: NodeDefs) -> None:
    prompt = {
        "1": image(),
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0], "bogus": [1, 2, 3]}},
    }
    verdict = validate_prompt(prompt, defs)
    assert verdict.status == 200
    assert verdict.prompt["2"]["inputs"]["bogus"] == [1, 2, 3]


# --- links that make the server raise --------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "exc_type", "details", "line"),
    [
        (["99", 0], "KeyError", "'99'", 818),
        ([1, 0], "KeyError", "1", 818),
        (["1", "0"], "TypeError", "tuple indices must be integers or slices, not str", 820),
        (["1", 0.0], "TypeError", "tuple indices must be integers or slices, not float", 820),
        (["1", 5], "IndexError", "tuple index out of range", 820),
        ([["1"], 0], "TypeError", "unhashable type: 'list'", 818),
    ],
)
def test_exception_during_validation(
    defs: NodeDefs, link: list[Any], exc_type: str, details: str, line: int
) -> None:
    verdict = validate_prompt({"1": image(), "2": preview(link)}, defs, format_frame=format_frame)
    error = only_error(verdict, "2")
    assert error["type"] == "exception_during_validation"
    assert (error["extra_info"]["exception_type"], error["details"]) == (exc_type, details)
    trace = error["extra_info"]["traceback"]
    assert [t.split(", in ")[0].rsplit("line ", 1)[1] for t in trace] == ["1043", str(line)]
    assert all(t.startswith(f'  File "{TRACEBACK_ROOT}/execution.py"') and t.endswith("\n") for t in trace)
    assert verdict.body["error"]["details"] == f"Exception when validating node: {details}"


def test_negative_and_bool_slots_index_like_python(defs: NodeDefs) -> None:
    load = {"class_type": "LoadImage", "inputs": {"image": "example.png"}}
    # [-1] is the last output (MASK), True is output 1: both plain Python tuple indexing on the server
    for slot in (-1, True):
        error = only_error(validate_prompt({"1": load, "2": preview(["1", slot])}, defs), "2")
        assert error["extra_info"]["received_type"] == "MASK"


def test_exception_during_inner_validation_is_attributed_upstream(defs: NodeDefs) -> None:
    prompt = {"2": {"class_type": "ImageInvert", "inputs": {"image": ["99", 0]}}, "3": preview(["2", 0])}
    verdict = validate_prompt(prompt, defs, format_frame=format_frame)
    assert list(verdict.body["node_errors"]) == ["2"]
    error = only_error(verdict, "2")
    assert error["type"] == "exception_during_inner_validation"
    # quirk: input_name and linked_node describe the downstream link into node 2
    assert error["extra_info"]["input_name"] == "images"
    assert error["extra_info"]["linked_node"] == ["2", 0]
    assert len(error["extra_info"]["traceback"]) == 2
    assert verdict.body["error"]["details"] == ""


def test_tracebacks_are_left_to_the_caller(defs: NodeDefs) -> None:
    # The library records where the server's code raised; ComfyUI's line table is the sandbox's.
    prompt = {"1": image(), "2": preview(["1", 5])}
    bare = only_error(validate_prompt(prompt, defs), "2")
    named = only_error(validate_prompt(prompt, defs, format_frame=format_frame), "2")
    assert bare["extra_info"]["traceback"] == []
    assert named["extra_info"]["traceback"] == [format_frame("prompt"), format_frame("link_slot")]
    assert {**bare, "extra_info": {}} == {**named, "extra_info": {}}


def test_missing_inputs_key_on_output_node(defs: NodeDefs) -> None:
    error = only_error(validate_prompt({"2": {"class_type": "PreviewImage"}}, defs), "2")
    assert (error["type"], error["details"]) == ("exception_during_validation", "'inputs'")


# --- nodes that validate themselves ----------------------------------------------------------


def test_loadimage_custom_validation(defs: NodeDefs) -> None:
    validators = {"LoadImage": file_validator("image", lambda name: name == "there.png")}
    for name, ok in [("there.png", True), ("missing.png", False)]:
        prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name}}, "2": preview(["1", 0])}
        verdict = validate_prompt(prompt, defs, custom_validators=validators)
        assert verdict.ok is ok
        if not ok:
            assert only_error(verdict, "1") == {
                "type": "custom_validation_failed",
                "message": "Custom validation failed for node",
                "details": "image - Invalid image file: missing.png",
                "extra_info": {"input_name": "image"},
            }


def test_self_validated_inputs_skip_the_combo_check(defs: NodeDefs) -> None:
    # "sub/x.png" and "x.png [output]" are not in LoadImage's combo list, yet pass: the node checks them.
    for name in ("sub/x.png", "x.png [output]"):
        prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name}}, "2": preview(["1", 0])}
        assert validate_prompt(prompt, defs).status == 200
    # without a validator for the class, the same value fails the combo check
    prompt = {
        "1": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["2", 0],
                "upscale_method": "sub/x.png",
                "width": 8,
                "height": 8,
                "crop": "disabled",
            },
        },
        "2": image(),
        "3": preview(["1", 0]),
    }
    assert only_error(validate_prompt(prompt, defs), "1")["type"] == "value_not_in_list"


def test_validator_receives_links_as_none_and_false_gives_bare_details(defs: NodeDefs) -> None:
    seen: list[dict[str, Any]] = []

    def check(values: Any) -> bool:
        seen.append(dict(values))
        return False

    prompt = {
        "5": {"class_type": "PrimitiveString", "inputs": {"value": "a.png"}},
        "1": {"class_type": "LoadImage", "inputs": {"image": ["5", 0]}},
        "2": preview(["1", 0]),
    }
    verdict = validate_prompt(prompt, defs, custom_validators={"LoadImage": check})
    assert seen == [{"image": None}]
    # a STRING link into a legacy combo is also a type mismatch; both errors are kept
    got = {(e["type"], e["details"]) for e in errors_of(verdict, "1")}
    assert got == {
        ("custom_validation_failed", "image"),
        ("return_type_mismatch", "image, received_type(STRING) mismatch input_type(['example.png'])"),
    }


def test_loader_validation_exceptions_match_the_server(defs: NodeDefs) -> None:
    # LoadImage.VALIDATE_INPUTS(None) fails inside folder_paths (AttributeError), and a missing
    # argument is a TypeError from the call itself: both observed on a real 0.8.0.
    linked = {
        "5": {"class_type": "PrimitiveString", "inputs": {"value": "a.png"}},
        "1": {"class_type": "LoadImage", "inputs": {"image": ["5", 0]}},
        "2": preview(["1", 0]),
    }
    error = only_error(validate_prompt(linked, defs, format_frame=format_frame), "1")
    assert error["details"] == "'NoneType' object has no attribute 'endswith'"
    assert [t.split('", line ')[0].rsplit("/", 1)[1] for t in error["extra_info"]["traceback"]] == [
        "execution.py",
        "execution.py",
        "execution.py",
        "execution.py",
        "nodes.py",
        "folder_paths.py",
        "folder_paths.py",
    ]
    empty = {"1": {"class_type": "LoadImage", "inputs": {}}, "2": preview(["1", 0])}
    error = only_error(validate_prompt(empty, defs), "1")
    assert error["details"] == "LoadImage.VALIDATE_INPUTS() missing 1 required positional argument: 'image'"


def test_validator_for_unknown_class_is_treated_as_kwargs(defs: NodeDefs) -> None:
    assert "EmptyImage" not in KNOWN_VALIDATORS
    prompt = {"1": image(width=0), "2": preview(["1", 0])}
    verdict = validate_prompt(prompt, defs, custom_validators={"EmptyImage": lambda values: "no"})
    errors = errors_of(verdict, "1")
    # min/max skipped for every input; one custom_validation_failed per input passed to it
    assert {e["type"] for e in errors} == {"custom_validation_failed"}
    assert sorted(e["extra_info"]["input_name"] for e in errors) == ["batch_size", "color", "height", "width"]


def test_validator_exception_becomes_exception_during_validation(defs: NodeDefs) -> None:
    def boom(values: Any) -> bool:
        raise ValueError("bad aspect")

    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}}, "2": preview(["1", 0])}
    error = only_error(validate_prompt(prompt, defs, custom_validators={"LoadImage": boom}), "1")
    assert (error["type"], error["details"]) == ("exception_during_inner_validation", "bad aspect")
    assert error["extra_info"]["exception_type"] == "ValueError"


# --- dynamic V3 inputs -----------------------------------------------------------------------


def resize(**inputs: Any) -> dict[str, Any]:
    return {
        "class_type": "ResizeImageMaskNode",
        "inputs": {"input": ["1", 0], "scale_method": "area", **inputs},
    }


def test_dynamic_combo_children_are_validated_with_dotted_names(defs: NodeDefs) -> None:
    node = resize(**{"resize_type": "scale dimensions", "resize_type.width": 99999})
    verdict = validate_prompt({"1": image(), "2": node, "3": preview(["2", 0])}, defs)
    got = {(e["type"], e["details"], e["extra_info"]["input_name"]) for e in errors_of(verdict, "2")}
    assert got == {
        ("value_bigger_than_max", "resize_type.width", "resize_type.width"),
        ("required_input_missing", "height", "resize_type.height"),
        ("required_input_missing", "crop", "resize_type.crop"),
    }


def test_dynamic_combo_absent_or_unknown_key_is_not_reported(defs: NodeDefs) -> None:
    for node in (resize(), resize(resize_type="no such option")):
        assert validate_prompt({"1": image(), "2": node, "3": preview(["2", 0])}, defs).status == 200


def test_autogrow_inputs(defs: NodeDefs) -> None:
    mask = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
    batch = {
        "class_type": "BatchImagesNode",
        "inputs": {"images.image0": ["1", 0], "images.image3": ["5", 0]},
    }
    verdict = validate_prompt({"1": image(), "5": mask, "2": batch, "3": preview(["2", 0])}, defs)
    error = only_error(verdict, "2")
    assert (error["type"], error["extra_info"]["input_name"]) == ("return_type_mismatch", "images.image3")
    # the template's min (2) is not enforced by the server: one image is accepted
    batch["inputs"] = {"images.image0": ["1", 0]}
    assert validate_prompt({"1": image(), "2": batch, "3": preview(["2", 0])}, defs).status == 200


# --- cycles and garbage ----------------------------------------------------------------------


def test_cycle_is_rejected_with_empty_node_errors(defs: NodeDefs) -> None:
    # Observed on a real 0.8.0: a reachable cycle fails validation and no node is named.
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": preview(["1", 0]),
    }
    verdict = validate_prompt(prompt, defs)
    assert verdict.status == 400
    assert verdict.body["node_errors"] == {} and verdict.body["error"]["details"] == ""


@pytest.mark.parametrize(
    "prompt",
    [
        [1, 2],
        "abc",
        5,
        None,
        {"1": "class_type!"},
        {"1": ["class_type"]},
        {"1": {"class_type": ["x"]}},
        {"1": 3},
    ],
)
def test_prompts_the_server_crashes_on_are_500(defs: NodeDefs, prompt: Any) -> None:
    verdict = validate_prompt(prompt, defs)
    assert verdict.status == 500
    assert verdict.body["exception_type"] in ("TypeError", "KeyError")


@pytest.mark.parametrize(("prompt", "status"), [({}, 400), ([], 400), ("", 400), ({"1": "xx"}, 400)])
def test_empty_or_odd_prompts_follow_python_semantics(defs: NodeDefs, prompt: Any, status: int) -> None:
    # "class_type" in "xx" is a substring test on the server: invalid_prompt, not a crash
    assert validate_prompt(prompt, defs).status == status


def test_validate_request_body_shapes(defs: NodeDefs) -> None:
    assert validate_request({"client_id": "x"}, defs).body["error"]["type"] == "no_prompt"
    assert validate_request([1, 2], defs).body["error"]["type"] == "no_prompt"
    assert validate_request({"number": "x", "prompt": {}}, defs).status == 500
    assert validate_request("prompt", defs).status == 500
    verdict = validate_request(
        {"prompt": {"1": image(width=0), "12": preview(["1", 0])}, "partial_execution_targets": "12"}, defs
    )
    assert verdict.body["node_errors"]["1"]["dependent_outputs"] == ["12"]


def test_bodies_are_json(defs: NodeDefs) -> None:
    prompt = {"1": image(width={"a": [1]}), "2": preview(["1", 0]), "3": preview(["9", 0])}
    verdict = validate_prompt(prompt, defs)
    assert json.loads(json.dumps(verdict.body)) == verdict.body


def test_validator_spec_describes_a_custom_node(defs: NodeDefs) -> None:
    # A custom loader that validates "upscale_method" itself: the combo check is skipped for it only.
    spec = ValidatorSpec("MyScale", ("s", "upscale_method"), ("upscale_method",), default=lambda v: True)
    scale = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": "custom",
            "width": -1,
            "height": 8,
            "crop": "disabled",
        },
    }
    verdict = validate_prompt(
        {"1": image(), "2": scale, "3": preview(["1", 0]), "4": preview(["2", 0])},
        defs,
        custom_validators={"ImageScale": spec},
    )
    assert [e["type"] for e in errors_of(verdict, "2")] == ["value_smaller_than_min"]
    failing = ValidatorSpec("MyScale", ("s", "upscale_method"), ("upscale_method",), default=lambda v: "nope")
    verdict = validate_prompt(
        {"1": image(), "2": scale, "3": preview(["2", 0])}, defs, custom_validators={"ImageScale": failing}
    )
    assert {e["details"] for e in errors_of(verdict, "2")} == {"width", "upscale_method - nope"}


def test_known_tables_match_the_node_definitions(defs: NodeDefs) -> None:
    from comfyctl.workflow.validate import FILE_LOADERS, MODEL_INPUTS

    for class_type, spec in KNOWN_VALIDATORS.items():
        if class_type not in defs:  # e.g. ComfySoftSwitchNode is not loaded on every server
            continue
        assert spec.args[0] in ("s", "cls")
        for arg in spec.args[1:]:
            assert arg == "input_types" or defs[class_type].input(arg) is not None, (class_type, arg)
        assert spec.v3 == ("output_matchtypes" in defs[class_type].raw), class_type
    for class_type, inputs in MODEL_INPUTS.items():
        for name in inputs if class_type in defs else ():
            declared = defs[class_type].input(name)
            assert declared is not None and declared.is_combo, (class_type, name)
    for class_type, (name, _kind) in FILE_LOADERS.items():
        assert class_type in KNOWN_VALIDATORS and KNOWN_VALIDATORS[class_type].args[1] == name


def _v3(
    inputs: dict[str, Any], *, output_node: bool = False, outputs: list[str] | None = None
) -> dict[str, Any]:
    return {
        "input": inputs,
        "output": outputs or ["IMAGE"],
        "output_node": output_node,
        "output_matchtypes": None,
        "name": "X",
    }


def test_autogrow_names_template_and_dynamic_slot() -> None:
    synthetic = NodeDefs(
        {
            "Src": _v3({"required": {}}, outputs=["IMAGE", "INT"]),
            "Out": _v3({"required": {"image": ["IMAGE", {}]}}, output_node=True, outputs=[]),
            "Grow": _v3(
                {
                    "required": {
                        "vals": [
                            "COMFY_AUTOGROW_V3",
                            {
                                "template": {
                                    "input": {"required": {"v": ["INT", {"min": 0, "max": 5}]}},
                                    "names": ["a", "b", "c"],
                                    "min": 2,
                                }
                            },
                        ]
                    }
                }
            ),
            "Slot": _v3(
                {
                    "optional": {
                        "slot": [
                            "COMFY_DYNAMICSLOT_V3",
                            {
                                "slotType": "IMAGE",
                                "inputs": {"required": {"strength": ["FLOAT", {"min": 0.0, "max": 1.0}]}},
                            },
                        ]
                    }
                }
            ),
        }
    )
    grow = {"class_type": "Grow", "inputs": {"vals.a": 9, "vals.c": "2", "vals.x": 99}}
    verdict = validate_prompt(
        {"1": grow, "2": {"class_type": "Out", "inputs": {"image": ["1", 0]}}}, synthetic
    )
    # only present names are expanded (b is not required although min is 2); unknown "vals.x" is ignored
    assert [(e["type"], e["details"]) for e in errors_of(verdict, "1")] == [
        ("value_bigger_than_max", "vals.a")
    ]
    assert verdict.prompt["1"]["inputs"]["vals.c"] == 2
    slot: dict[str, Any] = {"class_type": "Slot", "inputs": {"slot": ["0", 0]}}
    prompt: dict[str, Any] = {
        "0": {"class_type": "Src", "inputs": {}},
        "1": slot,
        "2": {"class_type": "Out", "inputs": {"image": ["1", 0]}},
    }
    verdict = validate_prompt(prompt, synthetic)
    # a connected DynamicSlot brings its own inputs in (their leaf name in details); 0.8.0 also
    # compares the link with the slot's own type, COMFY_DYNAMICSLOT_V3, which nothing outputs
    got = {(e["type"], e["extra_info"]["input_name"]) for e in errors_of(verdict, "1")}
    assert got == {("required_input_missing", "slot.strength"), ("return_type_mismatch", "slot")}
    del slot["inputs"]["slot"]
    assert validate_prompt(prompt, synthetic).status == 200
