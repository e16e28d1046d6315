"""Property tests: random and mutated workflows either work or raise our own error with a message."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyctl.errors import ComfyError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow import apply_controls, list_params, load, set_params, set_seeds, set_ui_params, to_api
from conftest import FIXTURES

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAMPLES = [
    "edge_subgraph",
    "edge_bypass",
    "edge_group_node",
    "edge_primitive_widget_input",
    "edge_reroute_chain",
    "edge_control_after_generate",
    "edge_muted",
    "default",
]


@cache
def defs() -> NodeDefs:
    return NodeDefs(json.loads((FIXTURES / "object_info.json").read_text()))


@cache
def sample(name: str, kind: str) -> Any:
    return json.loads((FIXTURES / "ui2api" / f"{name}.{kind}.json").read_text())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**65) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """A fixture workflow with a few values replaced, deleted or swapped for small numbers."""
    doc = copy.deepcopy(sample(draw(st.sampled_from(SAMPLES)), kind))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "number"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "number":
            parent[path[-1]] = draw(st.integers(-25, 25))
        else:
            parent[path[-1]] = draw(json_values)
    return doc


def _ok_or_ours(call: Any) -> None:
    try:
        call()
    except ComfyError as exc:
        assert exc.message and isinstance(exc.message, str)
        json.dumps(exc.to_dict(), default=str)


@SETTINGS
@given(mutated("ui"))
def test_mutated_ui_graphs(doc: Any) -> None:
    _ok_or_ours(lambda: to_api(doc, defs()))
    _ok_or_ours(lambda: load(json.dumps(doc, allow_nan=True)))
    _ok_or_ours(lambda: apply_controls(doc, defs(), seed="random"))
    _ok_or_ours(lambda: apply_controls(doc, defs()))
    _ok_or_ours(lambda: set_ui_params(doc, ["KSampler.seed=5", "1.image=x.png", "5.text=hi"], defs()))


@SETTINGS
@given(mutated("api"), st.lists(st.text(max_size=20), max_size=3))
def test_mutated_api_prompts(doc: Any, assignments: list[str]) -> None:
    _ok_or_ours(lambda: load(doc))
    _ok_or_ours(lambda: list_params(doc, defs()))
    _ok_or_ours(lambda: set_params(doc, assignments, defs()))
    _ok_or_ours(lambda: set_params(doc, ["KSampler.seed=5", "1.image=x.png"], defs()))
    _ok_or_ours(lambda: set_seeds(doc, defs(), "random"))


@SETTINGS
@given(json_values)
def test_random_json_everywhere(doc: Any) -> None:
    _ok_or_ours(lambda: load(json.dumps(doc)))
    _ok_or_ours(lambda: to_api(doc, defs()))
    _ok_or_ours(lambda: list_params(doc))
    _ok_or_ours(lambda: set_params(doc, ["a.b=1"]))
    _ok_or_ours(lambda: apply_controls(doc, defs()))
    _ok_or_ours(lambda: set_ui_params(doc, ["a.b=1"], defs()))


@SETTINGS
@given(st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    _ok_or_ours(lambda: load(data))
    _ok_or_ours(lambda: load(b"\x89PNG\r\n\x1a\n" + data))
    _ok_or_ours(lambda: load(b"RIFF\0\0\0\0WEBP" + data))
