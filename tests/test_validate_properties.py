"""Property tests: any JSON, random or mutated from real workflows, gets a verdict and never an exception."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyctl.errors import ValidationError
from comfyctl.nodedefs import NodeDefs
from comfyctl.workflow.validate import check, describe_rejection, validate, validate_prompt, validate_request
from conftest import FIXTURES

DEFS = NodeDefs.from_file(FIXTURES / "object_info.json")
SEEDS = [
    json.loads(p.read_text())
    for p in sorted((FIXTURES / "workflows").glob("*.json"))
    + sorted((FIXTURES / "ui2api").glob("*.api.json"))[:12]
]
SEEDS = [s["prompt"] if isinstance(s.get("prompt"), dict) else s for s in SEEDS]
CLASSES = [
    *sorted({n["class_type"] for s in SEEDS for n in s.values()}),
    "BatchImagesNode",
    "ResizeImageMaskNode",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1", "2", "0", "class_type", "inputs", "__value__", "example.png", "area", "*"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
node_ids = st.sampled_from(["1", "2", "3", "4", "5", "99"])
links = st.one_of(
    st.tuples(node_ids, st.integers(-2, 4)).map(list),
    st.tuples(st.integers(0, 5), st.integers(0, 2)).map(list),
    st.tuples(node_ids, st.sampled_from(["0", 0.0, True, None])).map(list),
    st.lists(node_ids, max_size=3),
)


@st.composite
def nodes(draw: st.DrawFn) -> Any:
    class_type = draw(st.one_of(st.sampled_from(CLASSES), junk))
    inputs: dict[str, Any] = {}
    if isinstance(class_type, str) and class_type in DEFS:
        for spec in DEFS[class_type].inputs:
            if draw(st.integers(0, 9)) == 0:
                continue
            inputs[spec.name] = draw(st.one_of(links, scalars, st.just(spec.default)))
    node: dict[str, Any] = {"class_type": class_type, "inputs": inputs}
    if draw(st.integers(0, 15)) == 0:
        del node[draw(st.sampled_from(["class_type", "inputs"]))]
    return node if draw(st.integers(0, 20)) else draw(junk)


prompts = st.one_of(st.dictionaries(node_ids, nodes(), max_size=6), junk)


def check_verdict(prompt: Any, verdict: Any) -> None:
    assert verdict.status in (200, 400, 500)
    body = verdict.body
    json.dumps(body, default=repr)  # what the sandbox serialises
    if verdict.status == 400:
        assert isinstance(body["error"]["type"], str) and isinstance(body["node_errors"], dict)
    if verdict.status in (200, 400):
        for entry in body["node_errors"].values():
            assert entry["errors"] and entry["dependent_outputs"] and isinstance(entry["class_type"], str)
            assert set(entry["dependent_outputs"]) <= set(prompt)
    if verdict.status == 200:
        assert verdict.outputs
        assert all(DEFS[prompt[o]["class_type"]].is_output_node for o in verdict.outputs)
    summary, problems = describe_rejection(body, prompt)
    assert isinstance(summary, str) and summary
    if verdict.status != 200:
        assert problems and all(isinstance(p["text"], str) and p["text"] for p in problems)


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself (deep)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompts)
def test_random_prompts_get_a_verdict(prompt: Any) -> None:
    before = copy.deepcopy(prompt)
    verdict = validate_prompt(prompt, DEFS)
    check_verdict(prompt, verdict)
    assert same(prompt, before)  # the caller's prompt is never coerced in place
    again = validate_prompt(prompt, DEFS)
    assert (again.status, json.dumps(again.body, default=repr)) == (
        verdict.status,
        json.dumps(verdict.body, default=repr),
    )


@settings(max_examples=60, deadline=None)
@given(junk)
def test_random_request_bodies(body: Any) -> None:
    verdict = validate_request(body, DEFS)
    assert verdict.status in (200, 400, 500)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    prompt: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    ids = sorted(prompt)
    for _ in range(draw(st.integers(1, 4))):
        node_id = draw(st.sampled_from(ids))
        node = prompt.get(node_id)
        action = draw(st.integers(0, 6))
        if action == 0:
            prompt.pop(node_id, None)
        elif not isinstance(node, dict) or not isinstance(node.get("inputs"), dict) or not node["inputs"]:
            prompt[node_id] = draw(junk)
        elif action == 1:
            name = draw(st.sampled_from(sorted(node["inputs"])))
            del node["inputs"][name]
        elif action == 2:
            name = draw(st.sampled_from(sorted(node["inputs"])))
            node["inputs"][name] = draw(st.one_of(scalars, links, junk))
        elif action == 3:
            node["class_type"] = draw(st.sampled_from(CLASSES))
        elif action == 4:
            name = draw(st.sampled_from(sorted(node["inputs"])))
            node["inputs"][name] = [draw(st.sampled_from(ids)), draw(st.integers(0, 3))]  # may form a cycle
        elif action == 5:
            prompt[draw(st.text(max_size=3))] = copy.deepcopy(node)
        else:
            node["inputs"][draw(st.text(max_size=6))] = draw(junk)
    return prompt


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_workflows(prompt: dict[str, Any]) -> None:
    verdict = validate_prompt(prompt, DEFS)
    check_verdict(prompt, verdict)
    report = validate(prompt, DEFS)  # also checks input files against the snapshot's list
    check_verdict(prompt, report.verdict)
    assert report.ok == (report.verdict.status == 200 and not report.verdict.body["node_errors"])
    if report.ok:
        assert verdict.status == 200
    json.dumps(report.to_dict(), default=repr)
    try:
        check(prompt, DEFS)
    except ValidationError as exc:
        assert not report.ok and exc.problems
    else:
        assert report.ok


@pytest.mark.parametrize("prompt", SEEDS[:9])
def test_seed_workflows_are_valid(prompt: dict[str, Any]) -> None:
    assert validate(prompt, DEFS, input_files=["example.png", "apiref/apiref_up.png"]).ok
