"""Parameters by node id, title or class, with coercion checked against the node definitions."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from comfyctl.errors import ParameterError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow import find_node, get_param, list_params, set_param, set_params
from conftest import FIXTURES, load_json


@cache
def defs() -> NodeDefs:
    return NodeDefs(json.loads((FIXTURES / "object_info.json").read_text()))


def prompt() -> dict[str, Any]:
    return load_json((FIXTURES / "ui2api" / "edge_control_after_generate.api.json").read_text())


def test_get_by_id_title_and_class() -> None:
    api = prompt()
    assert get_param(api, "5.seed") == 123456789012
    assert get_param(api, "Positive.text") == "a photo of a cat"
    assert get_param(api, "KSampler.steps") == 20
    assert get_param(api, "KSampler (Advanced).noise_seed") == 42  # a title with spaces and parentheses
    assert get_param(api, "ksampler.cfg") == 7.5  # case-insensitive when nothing matches exactly


def test_ambiguous_and_unknown_nodes_list_what_exists() -> None:
    api = prompt()
    with pytest.raises(ParameterError) as info:
        get_param(api, "CLIPTextEncode.text")
    assert info.value.details["candidates"] == ["2", "3"]
    assert "2 (CLIPTextEncode, 'Positive')" in info.value.message
    with pytest.raises(ParameterError) as info:
        find_node(api, "Nope")
    assert "5 (KSampler)" in info.value.message and "11" in info.value.details["nodes"]
    with pytest.raises(ParameterError, match=r"has no input 'sed'.*seed"):
        get_param(api, "KSampler.sed")
    with pytest.raises(ParameterError, match=r"NODE\.INPUT"):
        get_param(api, "KSampler")


def test_dotted_titles_and_dotted_input_names() -> None:
    api = {
        "1": {
            "class_type": "BatchImagesNode",
            "inputs": {"images.image0": ["2", 0]},
            "_meta": {"title": "v1.5 batch"},
        },
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8}, "_meta": {"title": "a.b"}},
    }
    assert get_param(api, "1.images.image0") == ["2", 0]
    assert get_param(api, "v1.5 batch.images.image0") == ["2", 0]
    assert get_param(api, "a.b.width") == 8


def test_set_coerces_cli_strings_with_the_definition() -> None:
    api = prompt()
    new = set_params(
        api, ["KSampler.steps=30", "5.cfg=4.5", "5.sampler_name=dpmpp_2m", "Positive.text=a dog"], defs()
    )
    assert get_param(new, "5.steps") == 30 and isinstance(get_param(new, "5.steps"), int)
    assert get_param(new, "5.cfg") == 4.5
    assert get_param(new, "5.sampler_name") == "dpmpp_2m"
    assert get_param(new, "2.text") == "a dog"
    assert get_param(api, "5.steps") == 20  # the original is untouched


@pytest.mark.parametrize(
    ("assignment", "needle"),
    [
        ("KSampler.steps=abc", "whole number"),
        ("KSampler.steps=1.5", "whole number"),
        ("KSampler.steps=0", "below the minimum 1"),
        ("KSampler.steps=10001", "above the maximum 10000"),
        ("KSampler.cfg=lots", "expected a number"),
        ("KSampler.cfg=nan", "finite"),
        ("KSampler.sampler_name=bogus", "not one of the choices"),
        ("KSampler.model=x", "linked to node 1"),
        ("KSampler.steps", "NODE.INPUT=VALUE"),
    ],
)
def test_bad_values_are_parameter_errors(assignment: str, needle: str) -> None:
    with pytest.raises(ParameterError) as info:
        set_params(prompt(), [assignment], defs())
    assert needle in info.value.message


def test_booleans_and_json_values() -> None:
    api = {"1": {"class_type": "ImageStitch", "inputs": {"match_image_size": True, "direction": "right"}}}
    for text, expected in [("false", False), ("0", False), ("no", False), ("yes", True), ("1", True)]:
        assert (
            get_param(set_params(api, [f"1.match_image_size={text}"], defs()), "1.match_image_size")
            is expected
        )
    with pytest.raises(ParameterError):
        set_params(api, ["1.match_image_size=maybe"], defs())
    # A declared input not yet present can be set; link types take JSON (a link or a wrapped list).
    new = set_params(api, ['1.image2=["7", 0]'], defs())
    assert get_param(new, "1.image2") == ["7", 0]


def test_without_definitions_the_current_type_guides_coercion() -> None:
    api = prompt()
    new = set_params(api, ["5.steps=12", "5.cfg=3", "2.text=123", "5.denoise=0.5"])
    assert get_param(new, "5.steps") == 12 and get_param(new, "2.text") == "123"
    assert get_param(new, "5.cfg") == 3.0 and get_param(new, "5.denoise") == 0.5
    with pytest.raises(ParameterError):
        set_params(api, ["5.steps=x"])


def test_linked_input_needs_unlink_and_library_values_are_type_checked() -> None:
    api = prompt()
    new = set_param(api, "5.model", ["1", 0], defs())
    assert get_param(new, "5.model") == ["1", 0]
    assert get_param(set_param(api, "5.latent_image", "x", unlink=True), "5.latent_image") == "x"
    with pytest.raises(ParameterError, match="whole number"):
        set_param(api, "5.steps", "30", defs())  # a str from Python is not parsed unless from_string
    assert get_param(set_param(api, "5.steps", 31, defs()), "5.steps") == 31


def test_list_params_reports_types_choices_and_ranges() -> None:
    params = {p.ref: p for p in list_params(prompt(), defs())}
    seed = params["5.seed"]
    assert (seed.class_type, seed.type, seed.min, seed.max) == ("KSampler", "INT", 0, 18446744073709551615)
    assert params["5.sampler_name"].choices and "euler" in params["5.sampler_name"].choices
    assert params["2.text"].title == "Positive"
    assert "5.model" not in params and "5.model" in {
        p.ref for p in list_params(prompt(), include_linked=True)
    }
    assert list(params)[:2] == ["1.ckpt_name", "2.text"]  # natural node-id order
    assert json.loads(json.dumps(seed.to_dict()))["ref"] == "5.seed"


def test_ui_params_keep_a_saved_graph_consistent_with_the_prompt() -> None:
    from comfyctl.workflow import set_ui_params, to_api

    ui = json.loads((FIXTURES / "ui2api" / "edge_control_after_generate.ui.json").read_text())
    sets = [
        "KSampler.steps=33",
        "Positive.text=a dog",
        "5.sampler_name=dpmpp_2m",
        "KSampler (Advanced).noise_seed=5",
    ]
    new = set_ui_params(ui, sets, defs())
    assert to_api(new, defs()) == set_params(to_api(ui, defs()), sets, defs())
    assert next(n for n in new["nodes"] if n["id"] == 5)["widgets_values"][2] == 33  # after seed + control
    assert ui["nodes"] != new["nodes"]  # a copy
    with pytest.raises(ParameterError, match="no widget 'model'"):
        set_ui_params(ui, ["KSampler.model=1"], defs())
    refiner = json.loads((FIXTURES / "ui2api" / "sdxl_refiner_prompt_example.ui.json").read_text())
    with pytest.raises(ParameterError, match="linked in the graph"):
        set_ui_params(refiner, ["10.steps=3"], defs())


def test_inputs_a_node_validates_itself_skip_the_choice_check_like_the_server() -> None:
    # The server skips combo membership for LoadImage.image (its VALIDATE_INPUTS checks the file),
    # so uploads in a subfolder or annotated output files are valid values.
    api = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "bilinear",
                "width": 64,
                "height": 64,
                "crop": "disabled",
            },
        },
    }
    in_subfolder = set_params(api, ["LoadImage.image=sub/upload.png"], defs())
    assert in_subfolder["1"]["inputs"]["image"] == "sub/upload.png"
    annotated = set_params(api, ["1.image=ComfyUI_00001_.png [output]"], defs())
    assert annotated["1"]["inputs"]["image"] == "ComfyUI_00001_.png [output]"
    with pytest.raises(ParameterError, match="not one of the choices"):
        set_params(api, ["ImageScale.upscale_method=super-resolution"], defs())
