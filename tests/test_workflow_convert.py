"""UI→API conversion: the 56 frontend-produced pairs, then each rule on small hand-built graphs."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import pytest

from comfyctl.errors import ConversionError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow import process_dynamic_prompt, to_api
from conftest import FIXTURES

UI2API = FIXTURES / "ui2api"
INDEX = json.loads((UI2API / "index.json").read_text())["entries"]

#: Titles where the frontend 1.35.9 showed a display name of its own (its bundled en locale) instead
#: of object_info's display_name. Keyed by (fixture, node id).
FRONTEND_OWN_TITLES = {
    ("flux1_dev_uso_reference_image_gen", "112:57:41"): "FluxKontextMultiReferenceLatentMethod",
}


@cache
def defs() -> NodeDefs:
    return NodeDefs(json.loads((FIXTURES / "object_info.json").read_text()))


def _load(name: str) -> Any:
    return json.loads((UI2API / name).read_text())


@pytest.mark.parametrize("entry", [e for e in INDEX if e["api_file"]], ids=lambda e: e["name"])
def test_converts_exactly_like_the_frontend(entry: dict[str, Any]) -> None:
    expected = _load(entry["api_file"])
    got = to_api(_load(entry["ui_file"]), defs())
    assert list(got) == list(expected)  # same nodes, in the frontend's order
    for node_id, node in expected.items():
        assert got[node_id]["class_type"] == node["class_type"], node_id
        assert got[node_id]["inputs"] == node["inputs"], node_id
        title = FRONTEND_OWN_TITLES.get((entry["name"], node_id), got[node_id]["_meta"]["title"])
        assert node["_meta"]["title"] == title, node_id
        got[node_id]["_meta"] = node["_meta"]
    # Byte-identical JSON once titles agree: key order and number types included.
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("entry", [e for e in INDEX if not e["api_file"]], ids=lambda e: e["name"])
def test_dangling_links_are_clear_errors(entry: dict[str, Any]) -> None:
    with pytest.raises(ConversionError) as info:
        to_api(_load(entry["ui_file"]), defs())
    err = info.value
    assert err.details["node_id"] == "3" and err.details["input_name"] == "images"
    assert "node 3" in err.message and "'images'" in err.message and "dangling link" in err.message


# ---- small graphs ------------------------------------------------------------------------------


def node(
    nid: int,
    type_: str,
    *,
    ins: Sequence[tuple[str, str, int | None]] = (),
    outs: Sequence[tuple[str, str]] = (),
    wv: Any = None,
    mode: int = 0,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": nid,
        "type": type_,
        "mode": mode,
        "inputs": [{"name": n, "type": t, "link": lk} for n, t, lk in ins],
        "outputs": [{"name": n, "type": t, "links": []} for n, t in outs],
        "properties": {},
    }
    if wv is not None:
        out["widgets_values"] = wv
    if title:
        out["title"] = title
    out.update(extra)
    return out


def graph(nodes: list[dict[str, Any]], links: list[list[Any]], **extra: Any) -> dict[str, Any]:
    for lk in links:  # fill outputs[].links like the editor does
        for n in nodes:
            if n["id"] == lk[1] and lk[2] < len(n["outputs"]):
                n["outputs"][lk[2]]["links"].append(lk[0])
    return {"nodes": nodes, "links": links, "version": 0.4, **extra}


def load_image(nid: int = 1, **kw: Any) -> dict[str, Any]:
    return node(nid, "LoadImage", outs=[("IMAGE", "IMAGE"), ("MASK", "MASK")], wv=["a.png", "image"], **kw)


def preview(nid: int, link: int | None) -> dict[str, Any]:
    return node(nid, "PreviewImage", ins=[("images", "IMAGE", link)])


def test_widget_values_follow_input_order_and_skip_control_and_upload_values() -> None:
    ui = graph(
        [
            load_image(),
            node(
                2,
                "KSampler",
                wv=[42, "increment", 5, 6.5, "euler", "normal", 0.5],
                ins=[("model", "MODEL", None)],
                outs=[("LATENT", "LATENT")],
            ),
            node(3, "ImageBlur", ins=[("image", "IMAGE", 1)], outs=[("IMAGE", "IMAGE")], wv=[3, 0.5]),
            preview(4, 2),
        ],
        [[1, 1, 0, 3, 0, "IMAGE"], [2, 3, 0, 4, 0, "IMAGE"]],
    )
    api = to_api(ui, defs())
    assert api["1"]["inputs"] == {"image": "a.png"}
    assert api["2"]["inputs"] == {
        "seed": 42,
        "steps": 5,
        "cfg": 6.5,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 0.5,
    }
    assert api["3"]["inputs"] == {"blur_radius": 3, "sigma": 0.5, "image": ["1", 0]}
    assert api["3"]["_meta"]["title"] == "ImageBlur"  # no display_name: the class name


def test_missing_widget_values_take_the_definition_defaults() -> None:
    api = to_api(graph([node(1, "EmptyLatentImage", wv=[640])], []), defs())
    assert api["1"]["inputs"] == {"width": 640, "height": 512, "batch_size": 1}


def test_linked_widget_input_becomes_a_link_in_widget_position() -> None:
    ui = graph(
        [
            node(1, "PrimitiveInt", outs=[("INT", "INT")], wv=[9, "fixed"]),
            node(
                2,
                "ImageBlur",
                ins=[("image", "IMAGE", None), ("blur_radius", "INT", 1)],
                wv=[3, 0.5],
                outs=[("IMAGE", "IMAGE")],
            ),
        ],
        [[1, 1, 0, 2, 1, "INT"]],
    )
    ui["nodes"][1]["inputs"][1]["widget"] = {"name": "blur_radius"}
    api = to_api(ui, defs())
    assert list(api["2"]["inputs"].items()) == [("blur_radius", ["1", 0]), ("sigma", 0.5)]


def test_bypass_reconnects_same_slot_when_the_type_fits() -> None:
    ui = graph(
        [
            load_image(),
            node(2, "ImageInvert", ins=[("image", "IMAGE", 1)], outs=[("IMAGE", "IMAGE")], mode=4),
            preview(3, 2),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    )
    api = to_api(ui, defs())
    assert "2" not in api and api["3"]["inputs"] == {"images": ["1", 0]}


def test_bypass_falls_back_to_the_first_input_of_the_wanted_type() -> None:
    # ImageCompositeMasked output 0 (IMAGE): input 0 "destination" is IMAGE, so slot 0 wins. Ask for
    # MASK through a node whose slot-0 input is IMAGE: the first MASK input is chosen instead.
    ui = graph(
        [
            load_image(),
            node(
                2,
                "JoinImageWithAlpha",
                ins=[("image", "IMAGE", 1), ("alpha", "MASK", 3)],
                outs=[("IMAGE", "IMAGE")],
                mode=4,
            ),
            node(4, "MaskPreview", ins=[("mask", "MASK", 2)]),
            node(5, "SolidMask", outs=[("MASK", "MASK")], wv=[1.0, 8, 8]),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 4, 0, "MASK"], [3, 5, 0, 2, 1, "MASK"]],
    )
    api = to_api(ui, defs())
    assert api["4"]["inputs"] == {"mask": ["5", 0]}


def test_bypass_without_a_matching_input_leaves_the_consumer_unconnected() -> None:
    ui = graph(
        [
            node(1, "EmptyImage", outs=[("IMAGE", "IMAGE")], wv=[8, 8, 1, 0]),
            node(2, "ImageToMask", ins=[("image", "IMAGE", 1)], outs=[("MASK", "MASK")], wv=["red"], mode=4),
            node(3, "MaskPreview", ins=[("mask", "MASK", 2)]),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "MASK"]],
    )
    assert to_api(ui, defs())["3"]["inputs"] == {}


def test_muted_nodes_are_dropped_with_the_inputs_that_pointed_at_them() -> None:
    ui = graph(
        [
            load_image(mode=2),
            node(2, "ImageBlur", ins=[("image", "IMAGE", 1)], outs=[("IMAGE", "IMAGE")], wv=[2, 1.0]),
            preview(3, 2),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
    )
    api = to_api(ui, defs())
    assert "1" not in api
    assert api["2"]["inputs"] == {"blur_radius": 2, "sigma": 1.0}
    assert api["3"]["inputs"] == {"images": ["2", 0]}


def test_reroute_chains_and_notes() -> None:
    ui = graph(
        [
            load_image(),
            node(2, "Reroute", ins=[("", "*", 1)], outs=[("", "*")]),
            node(3, "Reroute", ins=[("", "*", 2)], outs=[("", "*")]),
            preview(4, 3),
            node(5, "Note", wv=["remember"]),
            node(6, "MarkdownNote", wv=["# hi"]),
        ],
        [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 3, 0, "*"], [3, 3, 0, 4, 0, "IMAGE"]],
    )
    api = to_api(ui, defs())
    assert set(api) == {"1", "4"} and api["4"]["inputs"] == {"images": ["1", 0]}


def test_unconnected_reroute_leaves_input_out() -> None:
    ui = graph(
        [node(2, "Reroute", ins=[("", "*", None)], outs=[("", "*")]), preview(4, 3)],
        [[3, 2, 0, 4, 0, "IMAGE"]],
    )
    assert to_api(ui, defs())["4"]["inputs"] == {}


def test_primitive_node_pushes_its_value_into_every_target() -> None:
    ui = graph(
        [
            node(1, "PrimitiveNode", outs=[("INT", "INT")], wv=[640, "fixed"]),
            node(
                2,
                "EmptyLatentImage",
                ins=[("width", "INT", 1), ("height", "INT", 2)],
                wv=[512, 512, 1],
                outs=[("LATENT", "LATENT")],
            ),
        ],
        [[1, 1, 0, 2, 0, "INT"], [2, 1, 0, 2, 1, "INT"]],
    )
    for inp, name in zip(ui["nodes"][1]["inputs"], ["width", "height"], strict=True):
        inp["widget"] = {"name": name}
    ui["nodes"][0]["outputs"][0]["widget"] = {"name": "width"}
    api = to_api(ui, defs())
    assert set(api) == {"2"}
    assert api["2"]["inputs"] == {"width": 640, "height": 640, "batch_size": 1}


def _subgraph(
    sg_id: str,
    name: str,
    nodes: list[dict[str, Any]],
    links: list[dict[str, Any]],
    inputs: list[tuple[str, str, list[int]]],
    outputs: list[tuple[str, str, list[int]]],
) -> dict[str, Any]:
    return {
        "id": sg_id,
        "name": name,
        "nodes": nodes,
        "links": links,
        "inputs": [{"id": f"i{n}", "name": n, "type": t, "linkIds": ids} for n, t, ids in inputs],
        "outputs": [{"id": f"o{n}", "name": n, "type": t, "linkIds": ids} for n, t, ids in outputs],
        "widgets": [],
    }


def _lk(lid: int, o: int, os: int, t: int, ts: int, typ: str) -> dict[str, Any]:
    return {"id": lid, "origin_id": o, "origin_slot": os, "target_id": t, "target_slot": ts, "type": typ}


INNER = "11111111-1111-1111-1111-111111111111"
OUTER = "22222222-2222-2222-2222-222222222222"


def nested_ui(outer_widgets: list[Any] | None = None) -> dict[str, Any]:
    inner = _subgraph(
        INNER,
        "inner",
        [node(3, "ImageInvert", ins=[("image", "IMAGE", 2)], outs=[("IMAGE", "IMAGE")])],
        [_lk(2, -10, 0, 3, 0, "IMAGE"), _lk(4, 3, 0, -20, 0, "IMAGE")],
        [("image", "IMAGE", [2])],
        [("IMAGE", "IMAGE", [4])],
    )
    blur = node(
        2,
        "ImageBlur",
        ins=[("image", "IMAGE", 1), ("blur_radius", "INT", 5)],
        outs=[("IMAGE", "IMAGE")],
        wv=[5, 2.0],
    )
    blur["inputs"][1]["widget"] = {"name": "blur_radius"}
    outer = _subgraph(
        OUTER,
        "outer",
        [blur, node(7, INNER, ins=[("image", "IMAGE", 6)], outs=[("IMAGE", "IMAGE")])],
        [
            _lk(6, 2, 0, 7, 0, "IMAGE"),
            _lk(1, -10, 0, 2, 0, "IMAGE"),
            _lk(5, -10, 1, 2, 1, "INT"),
            _lk(7, 7, 0, -20, 0, "IMAGE"),
        ],
        [("image", "IMAGE", [1]), ("blur_radius", "INT", [5])],
        [("IMAGE", "IMAGE", [7])],
    )
    instance = node(8, OUTER, ins=[("image", "IMAGE", 8)], outs=[("IMAGE", "IMAGE")], wv=outer_widgets)
    return graph(
        [load_image(), instance, preview(6, 10)],
        [[8, 1, 0, 8, 0, "IMAGE"], [10, 8, 0, 6, 0, "IMAGE"]],
        definitions={"subgraphs": [inner, outer]},
    )


def test_nested_subgraphs_flatten_with_path_ids_and_promoted_widgets() -> None:
    api = to_api(nested_ui([9]), defs())
    assert set(api) == {"1", "8:2", "8:7:3", "6"}
    assert api["8:2"]["inputs"] == {"blur_radius": 9, "sigma": 2.0, "image": ["1", 0]}
    assert api["8:7:3"]["inputs"] == {"image": ["8:2", 0]}
    assert api["6"]["inputs"] == {"images": ["8:7:3", 0]}


def test_promoted_widget_without_instance_value_keeps_the_inner_value() -> None:
    assert to_api(nested_ui(None), defs())["8:2"]["inputs"]["blur_radius"] == 5


def test_subgraph_that_contains_itself_is_an_error() -> None:
    sg = _subgraph(INNER, "loop", [node(1, INNER)], [], [], [])
    with pytest.raises(ConversionError, match="contains itself"):
        to_api(graph([node(5, INNER)], [], definitions={"subgraphs": [sg]}), defs())


def test_legacy_group_node_expands_to_indexed_ids() -> None:
    group = {
        "nodes": [
            {
                "type": "ImageInvert",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
                "index": 0,
            },
            {
                "type": "ImageBlur",
                "inputs": [{"name": "image", "type": "IMAGE", "link": None}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}],
                "index": 1,
                "widgets_values": [1, 1],
            },
        ],
        "links": [[None, 0, 0, 0, 1, "IMAGE"], [0, 0, 1, 0, 2, "IMAGE"]],
        "external": [[1, 0, "IMAGE"]],
    }
    ui = graph(
        [
            load_image(),
            node(6, "workflow>G", ins=[("image", "IMAGE", 1)], outs=[("IMAGE", "IMAGE")], wv=[4, 0.25]),
            preview(7, 2),
        ],
        [[1, 1, 0, 6, 0, "IMAGE"], [2, 6, 0, 7, 0, "IMAGE"]],
        extra={"groupNodes": {"G": group}},
    )
    api = to_api(ui, defs())
    assert api["6:0"]["inputs"] == {"image": ["1", 0]}
    assert api["6:1"]["inputs"] == {"blur_radius": 4, "sigma": 0.25, "image": ["6:0", 0]}
    assert api["7"]["inputs"] == {"images": ["6:1", 0]}


def test_unknown_node_type_names_type_and_node() -> None:
    ui = graph([node(4, "NoSuchNode", title="Mine")], [])
    with pytest.raises(ConversionError) as info:
        to_api(ui, defs())
    assert info.value.details == {"node_id": "4", "class_type": "NoSuchNode"}
    assert "NoSuchNode" in info.value.message and "4" in info.value.message


def test_unknown_type_is_fine_when_muted_and_extra_virtual_types_are_dropped() -> None:
    assert to_api(graph([node(4, "NoSuchNode", mode=2)], []), defs()) == {}
    assert to_api(graph([node(4, "MyNote")], []), defs(), virtual_types={"MyNote"}) == {}


def test_list_values_are_wrapped_and_dynamic_combo_children_are_kept() -> None:
    ui = graph(
        [
            node(
                1,
                "ResizeImageMaskNode",
                ins=[("input", "*", None)],
                outs=[("out", "*")],
                wv=["scale by multiplier", 2.5, "area"],
            )
        ],
        [],
    )
    api = to_api(ui, defs())
    assert api["1"]["inputs"] == {
        "resize_type": "scale by multiplier",
        "resize_type.multiplier": 2.5,
        "scale_method": "area",
    }
    ui = graph([node(1, "SaveImage", ins=[("images", "IMAGE", None)], wv=[["a", "b"]])], [])
    assert to_api(ui, defs())["1"]["inputs"] == {"filename_prefix": {"__value__": ["a", "b"]}}


def test_dynamic_autogrow_inputs_keep_their_dotted_names() -> None:
    ui = graph(
        [
            load_image(),
            node(
                2,
                "BatchImagesNode",
                ins=[("images.image0", "IMAGE", 1), ("images.image1", "IMAGE", 2)],
                outs=[("IMAGE", "IMAGE")],
            ),
        ],
        [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 2, 1, "IMAGE"]],
    )
    assert to_api(ui, defs())["2"]["inputs"] == {"images.image0": ["1", 0], "images.image1": ["1", 0]}


def test_dynamic_prompts_and_filename_tokens_like_the_frontend() -> None:
    assert process_dynamic_prompt("a {red|blue} car // comment", random.Random(0)) in (
        "a red car ",
        "a blue car ",
    )
    assert process_dynamic_prompt(r"keep \{this\} /* gone */ x") == "keep {this}  x"
    ui = graph(
        [
            node(1, "CLIPTextEncode", ins=[("clip", "CLIP", None)], wv=["{cat|cat}"], title="Pos"),
            node(2, "SaveImage", ins=[("images", "IMAGE", None)], wv=["%date:yyyy-MM-dd%/%Pos.text%"]),
        ],
        [],
    )
    api = to_api(ui, defs(), now=datetime(2026, 3, 4))
    assert api["1"]["inputs"]["text"] == "cat"
    # The token takes the widget's stored text, with characters unsafe in file names replaced.
    assert api["2"]["inputs"]["filename_prefix"] == "2026-03-04/{cat_cat}"


def test_legacy_force_input_values_are_migrated() -> None:
    # Old saves kept a value for a forceInput input; the frontend drops it when the count matches.
    object_info = {
        "N": {
            "input": {"required": {"a": ["INT", {"forceInput": True}], "b": ["INT", {}]}},
            "input_order": {"required": ["a", "b"]},
            "output": [],
            "display_name": "N",
        }
    }
    assert to_api(graph([node(1, "N", wv=[1, 2])], []), NodeDefs(object_info))["1"]["inputs"] == {"b": 2}


@pytest.mark.parametrize(
    "bad",
    [
        {"nodes": "x"},
        {"nodes": [{"type": "LoadImage"}]},
        {"nodes": [{"id": 1}]},
        {"nodes": [], "links": [[1, 2]]},
        {"nodes": [], "links": [{"id": 1}]},
        {"nodes": [], "links": [[1, 2, 0.5, 3, 0, "X"]]},
        [],
    ],
)
def test_malformed_graphs_are_conversion_errors(bad: Any) -> None:
    with pytest.raises(ConversionError):
        to_api(bad, defs())


def test_circular_reroutes_are_reported() -> None:
    ui = graph(
        [
            node(1, "Reroute", ins=[("", "*", 2)], outs=[("", "*")]),
            node(2, "Reroute", ins=[("", "*", 1)], outs=[("", "*")]),
            preview(3, 3),
        ],
        [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 1, 0, 3, 0, "IMAGE"]],
    )
    with pytest.raises(ConversionError, match="circular"):
        to_api(ui, defs())


def test_primitive_feeding_a_subgraph_input_reaches_the_inner_widget() -> None:
    ui = nested_ui([9])
    prim = node(20, "PrimitiveNode", outs=[("INT", "INT")], wv=[13, "fixed"])
    prim["outputs"][0]["widget"] = {"name": "blur_radius"}
    prim["outputs"][0]["links"] = [30]
    ui["nodes"].append(prim)
    ui["nodes"][1]["inputs"].append(
        {"name": "blur_radius", "type": "INT", "link": 30, "widget": {"name": "blur_radius"}}
    )
    ui["links"].append([30, 20, 0, 8, 1, "INT"])
    api = to_api(ui, defs())
    assert api["8:2"]["inputs"]["blur_radius"] == 13
    assert "20" not in api


def test_instance_inputs_merge_by_name_and_stale_target_slots_are_ignored() -> None:
    # The definition lists blur_radius before image; the instance saved only "image" (at index 0)
    # and the root link still says target_slot 0. The frontend merges by name and renumbers slots.
    blur = node(2, "ImageBlur", ins=[("image", "IMAGE", 1)], outs=[("IMAGE", "IMAGE")], wv=[5, 2.0])
    outer = _subgraph(
        OUTER,
        "outer",
        [blur],
        [_lk(1, -10, 1, 2, 0, "IMAGE"), _lk(7, 2, 0, -20, 0, "IMAGE")],
        [("blur_radius", "INT", []), ("image", "IMAGE", [1])],
        [("IMAGE", "IMAGE", [7])],
    )
    instance = node(8, OUTER, ins=[("image", "IMAGE", 8)], outs=[("IMAGE", "IMAGE")])
    ui = graph(
        [load_image(), instance, preview(6, 10)],
        [[8, 1, 0, 8, 0, "IMAGE"], [10, 8, 0, 6, 0, "IMAGE"]],
        definitions={"subgraphs": [outer]},
    )
    api = to_api(ui, defs())
    assert api["8:2"]["inputs"] == {"blur_radius": 5, "sigma": 2.0, "image": ["1", 0]}


def test_dynamic_combo_without_saved_values_shows_its_first_option() -> None:
    api = to_api(graph([node(1, "ResizeImageMaskNode", outs=[("out", "*")])], []), defs())
    assert api["1"]["inputs"]["resize_type"] == "scale by multiplier"
    assert api["1"]["inputs"]["resize_type.multiplier"] == 1.0
    api = to_api(graph([node(1, "ResizeImageMaskNode", wv=["scale width"])], []), defs())
    assert (
        "resize_type.multiplier" not in api["1"]["inputs"] and api["1"]["inputs"]["resize_type.width"] == 512
    )


def test_control_after_generate_variants_take_their_hidden_values() -> None:
    # COMBO with a control: control + filter-list values; FLOAT with a control: one value; an INT
    # named seed whose definition says control_after_generate=False: none (the frontend uses ??).
    object_info = {
        "N": {
            "input": {
                "required": {
                    "choice": [["a", "b"], {"control_after_generate": True}],
                    "f": ["FLOAT", {"control_after_generate": True}],
                    "seed": ["INT", {"control_after_generate": False}],
                    "noise_seed": ["INT", {}],
                    "s": ["STRING", {}],
                }
            },
            "input_order": {"required": ["choice", "f", "seed", "noise_seed", "s"]},
            "output": [],
            "display_name": "N",
        }
    }
    values = ["b", "randomize", "", 1.5, "fixed", 7, 8, "increment", "txt"]
    api = to_api(graph([node(1, "N", wv=values)], []), NodeDefs(object_info))
    assert api["1"]["inputs"] == {"choice": "b", "f": 1.5, "seed": 7, "noise_seed": 8, "s": "txt"}


def test_the_prompt_shares_no_objects_with_the_graph() -> None:
    ui = graph([node(1, "SaveImage", ins=[("images", "IMAGE", None)], wv=[["a", "b"]])], [])
    api = to_api(ui, defs())
    api["1"]["inputs"]["filename_prefix"]["__value__"].append("c")
    assert ui["nodes"][0]["widgets_values"] == [["a", "b"]]
