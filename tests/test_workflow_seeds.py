"""control_after_generate and seed overrides, on API prompts and UI graphs."""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

import pytest

from comfyctl.errors import ParameterError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow import apply_controls, next_value, seed_inputs, set_seeds, to_api
from conftest import FIXTURES, load_json


@cache
def defs() -> NodeDefs:
    return NodeDefs(json.loads((FIXTURES / "object_info.json").read_text()))


def ui() -> dict[str, Any]:
    return load_json((FIXTURES / "ui2api" / "edge_control_after_generate.ui.json").read_text())


def values(graph: dict[str, Any]) -> dict[int, Any]:
    return {n["id"]: n.get("widgets_values") for n in graph["nodes"]}


def test_nothing_changes_unless_asked() -> None:
    api = to_api(ui(), defs())
    assert to_api(ui(), defs()) == api  # identical resubmission stays possible


def test_seed_inputs_follow_the_frontend_rule() -> None:
    api = to_api(ui(), defs())
    # KSampler.seed and both noise_seeds; PrimitiveInt.value has a control but is not a seed.
    assert sorted(seed_inputs(api, defs())) == [("11", "noise_seed"), ("5", "seed"), ("6", "noise_seed")]
    assert sorted(seed_inputs(api)) == [("11", "noise_seed"), ("5", "seed"), ("6", "noise_seed")]


def test_set_seeds_fixed_and_random_within_range() -> None:
    api = to_api(ui(), defs())
    fixed = set_seeds(api, defs(), 7)
    assert [fixed[n]["inputs"][i] for n, i in seed_inputs(api, defs())] == [7, 7, 7]
    assert api["5"]["inputs"]["seed"] == 123456789012  # input untouched
    rnd = set_seeds(api, defs(), "random", rng=random.Random(3))
    drawn = [rnd[n]["inputs"][i] for n, i in seed_inputs(api, defs())]
    assert len(set(drawn)) == 3 and all(isinstance(v, int) and 0 <= v < 2**50 for v in drawn)
    assert set_seeds(api, defs(), "random", rng=random.Random(3)) == rnd  # reproducible with a seeded rng


def test_set_seeds_respects_min_max_and_types() -> None:
    api = {"1": {"class_type": "KSampler", "inputs": {"seed": 1}}}
    with pytest.raises(ParameterError, match="outside the range"):
        set_seeds(api, defs(), -1)
    with pytest.raises(ParameterError):
        set_seeds(api, defs(), "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        set_seeds(api, defs(), True)


def test_apply_controls_moves_each_widget_by_its_mode() -> None:
    before = values(ui())
    after = values(apply_controls(ui(), defs(), rng=random.Random(1)))
    assert after[5][0] != before[5][0] and 0 <= after[5][0] < 2**50  # randomize
    assert after[5][1:] == before[5][1:]
    assert after[6][1] == before[6][1] + 1  # increment
    assert after[8][0] == before[8][0] - 1  # PrimitiveInt decrement
    assert after[11] == before[11]  # fixed
    assert after[9] == before[9]  # no control


def test_apply_controls_with_a_seed_sets_seeds_only() -> None:
    after = values(apply_controls(ui(), defs(), seed=99))
    assert (after[5][0], after[6][1], after[11][0]) == (99, 99, 99)
    assert after[8] == values(ui())[8]
    api = to_api(apply_controls(ui(), defs(), seed=99), defs())
    assert api["5"]["inputs"]["seed"] == 99 and api["6"]["inputs"]["noise_seed"] == 99


def test_apply_controls_reaches_promoted_subgraph_seeds() -> None:
    graph = json.loads((FIXTURES / "ui2api" / "flux_dev_checkpoint_example.ui.json").read_text())
    api = to_api(apply_controls(graph, defs(), seed=5), defs())
    seeds = [node["inputs"].get("noise_seed", node["inputs"].get("seed")) for node in api.values()]
    assert 5 in seeds


@pytest.mark.parametrize(
    ("value", "control", "kind", "options", "expected"),
    [
        (5, "fixed", "INT", {}, 5),
        (5, "increment", "INT", {"step": 2, "max": 6}, 6),  # clamped to max
        (0, "decrement", "INT", {"min": 0}, 0),
        (1.0, "increment", "FLOAT", {"step": 0.25}, 1.25),
        ("b", "increment", "COMBO", {"values": ["a", "b"]}, "b"),
        ("b", "increment-wrap", "COMBO", {"values": ["a", "b"]}, "a"),
        ("b", "decrement", "COMBO", {"values": ["a", "b"]}, "a"),
        (5, "bogus", "INT", {}, 5),
    ],
)
def test_next_value_matches_the_frontend(
    value: Any, control: str, kind: str, options: dict[str, Any], expected: Any
) -> None:
    assert next_value(value, control, kind=kind, options=options) == expected


def test_combo_randomize_honours_the_filter_list() -> None:
    opts = {"values": ["euler", "euler_a", "dpmpp_2m"]}
    for i in range(20):
        got = next_value(
            "dpmpp_2m", "randomize", kind="COMBO", options=opts, rng=random.Random(i), filter_text="eul"
        )
        assert got in ("euler", "euler_a")


def test_apply_controls_moves_promoted_subgraph_widgets_by_the_inner_mode() -> None:
    graph = json.loads((FIXTURES / "ui2api" / "flux_dev_checkpoint_example.ui.json").read_text())
    instance = next(n for n in graph["nodes"] if n["id"] == 41)
    after = next(n for n in apply_controls(graph, defs(), rng=random.Random(0))["nodes"] if n["id"] == 41)
    # The inner KSampler's seed is 'randomize': the promoted seed (value 3) moves; text and sizes stay.
    assert after["widgets_values"][:3] == instance["widgets_values"][:3]
    assert after["widgets_values"][3] != instance["widgets_values"][3]
    assert to_api(apply_controls(graph, defs(), rng=random.Random(0)), defs()) != to_api(graph, defs())
