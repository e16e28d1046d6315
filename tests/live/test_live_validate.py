"""Live: the real ComfyUI and validate_prompt / validate give the same verdict on the same prompts.

Run with ``COMFYUI_URL=http://127.0.0.1:8188 pytest -m live tests/live/test_live_validate.py``.
Valid cases run on the server, so they are tiny (8×8 images, core nodes, no models).
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl.nodedefs import NodeDefs
from comfyctl.testing.tracebacks import format_frame
from comfyctl.workflow.validate import (
    FILE_LOADERS,
    MODEL_INPUTS,
    describe_rejection,
    file_validator,
    model_folder,
    validate,
    validate_request,
)
from conftest import FIXTURES

pytestmark = pytest.mark.live


def empty(width: Any = 8, height: Any = 8) -> dict[str, Any]:
    return {
        "class_type": "EmptyImage",
        "inputs": {"width": width, "height": height, "batch_size": 1, "color": 0},
    }


def preview(link: Any) -> dict[str, Any]:
    return {"class_type": "PreviewImage", "inputs": {"images": link}}


def invert(link: Any) -> dict[str, Any]:
    return {"class_type": "ImageInvert", "inputs": {"image": link}}


def scale(link: Any, method: Any = "area") -> dict[str, Any]:
    inputs = {"image": link, "upscale_method": method, "width": 8, "height": 8, "crop": "disabled"}
    return {"class_type": "ImageScale", "inputs": inputs}


MASK = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}}
CASES: dict[str, Any] = {
    # a class_type that is not a string: 400 invalid_prompt (looked up as a name), or 500 when unhashable
    "class_type_int": {"prompt": {"1": {"class_type": 42, "inputs": {}}, "2": preview(["1", 0])}},
    "class_type_null": {"prompt": {"1": {"class_type": None, "inputs": {}}}},
    "class_type_bool": {"prompt": {"1": {"class_type": True, "inputs": {}}}},
    "class_type_list": {"prompt": {"1": {"class_type": ["EmptyImage"], "inputs": {}}}},
    "valid_chain": {"prompt": {"1": empty(), "2": invert(["1", 0]), "3": preview(["2", 0])}},
    "valid_coerced": {"prompt": {"1": empty("8", 8.7), "2": preview(["1", 0])}},
    "valid_value_wrapper": {
        "prompt": {"1": empty(), "2": scale(["1", 0], {"__value__": "area"}), "3": preview(["2", 0])}
    },
    "valid_load_image": {
        "prompt": {
            "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "2": scale(["1", 0]),
            "3": preview(["2", 0]),
        }
    },
    "partial_success": {
        "prompt": {"1": empty(), "2": preview(["1", 0]), "3": scale(["1", 0], "nope"), "4": preview(["3", 0])}
    },
    "partial_targets": {
        "prompt": {"1": empty(), "2": preview(["1", 0]), "3": empty(0), "4": preview(["3", 0])},
        "partial_execution_targets": ["2"],
    },
    "min_max": {"prompt": {"1": empty(0, 99999), "2": preview(["1", 0])}},
    "bad_int": {"prompt": {"1": empty("1e3"), "2": preview(["1", 0])}},
    "combo": {"prompt": {"1": empty(), "2": scale(["1", 0], "bicubc"), "3": preview(["2", 0])}},
    "combo_int": {"prompt": {"1": empty(), "2": scale(["1", 0], 3), "3": preview(["2", 0])}},
    "long_combo": {
        "prompt": {
            "1": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "nope"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        }
    },
    "missing_input": {
        "prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 8}}, "2": preview(["1", 0])}
    },
    "mismatch": {"prompt": {"1": MASK, "2": preview(["1", 0])}},
    "any_type": {"prompt": {"1": MASK, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}},
    "bad_link_shape": {"prompt": {"1": empty(), "2": preview(["1"])}},
    "link_missing_node": {"prompt": {"1": empty(), "2": preview(["99", 0])}},
    "link_int_id": {"prompt": {"1": empty(), "2": preview([1, 0])}},
    "link_str_slot": {"prompt": {"1": empty(), "2": preview(["1", "0"])}},
    "link_float_slot": {"prompt": {"1": empty(), "2": preview(["1", 0.0])}},
    "link_slot_range": {"prompt": {"1": empty(), "2": preview(["1", 3])}},
    "inner_missing_node": {"prompt": {"2": invert(["99", 0]), "3": preview(["2", 0])}},
    "no_inputs_key": {"prompt": {"2": {"class_type": "PreviewImage"}}},
    "load_missing_file": {
        "prompt": {
            "1": {"class_type": "LoadImage", "inputs": {"image": "nope_not_here.png"}},
            "2": preview(["1", 0]),
        }
    },
    "load_linked": {
        "prompt": {
            "5": {"class_type": "PrimitiveString", "inputs": {"value": "example.png"}},
            "1": {"class_type": "LoadImage", "inputs": {"image": ["5", 0]}},
            "2": preview(["1", 0]),
        }
    },
    "load_no_input": {"prompt": {"1": {"class_type": "LoadImage", "inputs": {}}, "2": preview(["1", 0])}},
    "dyncombo_children": {
        "prompt": {
            "1": empty(),
            "2": {
                "class_type": "ResizeImageMaskNode",
                "inputs": {
                    "input": ["1", 0],
                    "resize_type": "scale dimensions",
                    "resize_type.width": 99999,
                    "scale_method": "area",
                },
            },
            "3": preview(["2", 0]),
        }
    },
    "autogrow_mismatch": {
        "prompt": {
            "1": empty(),
            "5": MASK,
            "2": {
                "class_type": "BatchImagesNode",
                "inputs": {"images.image0": ["1", 0], "images.image3": ["5", 0]},
            },
            "3": preview(["2", 0]),
        }
    },
    "cycle": {"prompt": {"1": invert(["2", 0]), "2": invert(["1", 0]), "3": preview(["1", 0])}},
    "unknown_class": {
        "prompt": {"1": {"class_type": "NoSuchNodeHere", "inputs": {}}, "2": preview(["1", 0])}
    },
    "no_class_type": {"prompt": {"1": {"inputs": {}}, "2": preview(["1", 0])}},
    "no_outputs": {"prompt": {"1": empty()}},
    "two_independent_failures": {
        "prompt": {"1": empty(0), "2": preview(["1", 0]), "3": empty(8, 0), "4": preview(["3", 0])}
    },
    "no_prompt": {"client_id": "comfyctl-live"},
    "node_not_object": {"prompt": {"1": "class_type!"}},
}


@pytest.fixture
def server(live_url: str) -> Any:
    with httpx.Client(base_url=live_url, timeout=60) as http:
        yield http


_DEFS: dict[str, NodeDefs] = {}


@pytest.fixture
def live_defs(server: httpx.Client) -> NodeDefs:
    """The live server's own definitions, fetched once per run (live_url is function-scoped)."""
    url = str(server.base_url)
    if url not in _DEFS:
        _DEFS[url] = NodeDefs(server.get("/object_info").json())
    return _DEFS[url]


def _frames(lines: list[str]) -> list[str]:
    # the install path differs; file, line, function, source and carets must not
    # (an install folder itself named "comfyui" must not be kept as if it were comfy/ or comfy_api/)
    path = r'File "[^"]*?/((?:comfy/|comfy_\w+/)(?:\w+/)*[\w.]+\.py|[\w.]+\.py)"'
    return [re.sub(path, r'File "\1"', line) for line in lines]


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "traceback":
            return _frames(value)
        items = [normalise(v) for v in value]
        if key in ("errors", "dependent_outputs"):  # set order on the server
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return items
    if key == "details" and isinstance(value, str):
        return "\n".join(sorted(value.split("\n")))
    return value


def per_input(body: dict[str, Any]) -> set[tuple[str, str, Any]]:
    return {
        (node_id, error["type"], error.get("extra_info", {}).get("input_name"))
        for node_id, entry in body.get("node_errors", {}).items()
        for error in entry["errors"]
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_as_the_real_server(name: str, server: httpx.Client, live_defs: NodeDefs) -> None:
    body = CASES[name]
    answer = server.post("/prompt", json=body)
    files = set(live_defs["LoadImage"].input("image").choices or ())  # type: ignore[union-attr]
    ours = validate_request(
        body,
        live_defs,
        custom_validators={"LoadImage": file_validator("image", files.__contains__)},
        format_frame=format_frame,
    )
    assert ours.status == answer.status_code, answer.text
    if answer.status_code == 500:
        assert answer.text.startswith("500 Internal Server Error")
        return
    real = answer.json()
    if answer.status_code == 200:
        real = {"node_errors": real["node_errors"]}
    assert per_input(ours.body) == per_input(real)
    assert (ours.body.get("error") or {}).get("type") == (real.get("error") or {}).get("type")
    outputs = [
        k
        for k, v in body.get("prompt", {}).items()
        if isinstance(v, dict) and v.get("class_type") in ("PreviewImage", "PreviewAny", "SaveImage")
    ]
    if len(outputs) <= 1:  # with several outputs, dependent_outputs follow the server's set order
        assert normalise(ours.body) == normalise(real)
    # the readable form of the real answer and of ours agree
    assert sorted(p["text"] for p in describe_rejection(real, body.get("prompt"))[1]) == sorted(
        p["text"] for p in describe_rejection(ours.body, body.get("prompt"))[1]
    )


@pytest.mark.parametrize("name", ["cycle", "mismatch", "min_max", "load_missing_file", "valid_chain"])
def test_offline_validate_agrees(name: str, server: httpx.Client, live_defs: NodeDefs) -> None:
    prompt = CASES[name]["prompt"]
    answer = server.post("/prompt", json={"prompt": prompt})
    report = validate(prompt, live_defs)
    assert report.ok == (answer.status_code == 200 and not answer.json()["node_errors"])


def test_fixture_workflows_still_accepted(server: httpx.Client, live_defs: NodeDefs) -> None:
    """The small captured workflow is still accepted by the live server and by us."""
    prompt = json.loads(Path(FIXTURES / "workflows" / "success.json").read_text())
    prompt = prompt.get("prompt", prompt) if isinstance(prompt.get("prompt"), dict) else prompt
    answer = server.post("/prompt", json={"prompt": prompt})
    assert answer.status_code == 200 and answer.json()["node_errors"] == {}
    assert validate(prompt, live_defs).ok


_VALUES = [
    0,
    -1,
    1,
    2**64,
    "x",
    "",
    "1",
    "0",
    1.5,
    True,
    None,
    {"__value__": [1]},
    {"a": 1},
    [],
    ["1"],
    ["99", 0],
    [1, 0],
    ["1", "0"],
    ["1", 9],
    "area",
    "example.png",
    99999,
]


def _mutants(count: int, seed: int) -> list[dict[str, Any]]:
    """Small cheap workflows with 1-3 random edits each (deterministic)."""
    rng = random.Random(seed)
    bases = [
        json.loads((FIXTURES / "workflows" / name).read_text())
        for name in ("success.json", "dynamic_inputs.json", "binary_small.json")
    ]
    out = []
    for _ in range(count):
        prompt = copy.deepcopy(rng.choice(bases))
        ids = list(prompt)
        for _ in range(rng.randint(1, 3)):
            node = prompt.get(rng.choice(ids))
            action = rng.randint(0, 4)
            if node is None or not node["inputs"]:
                continue
            name = rng.choice(list(node["inputs"]))
            if action == 0:
                del node["inputs"][name]
            elif action == 1:
                node["inputs"][name] = rng.choice(_VALUES)
            elif action == 2:
                node["inputs"][name] = [rng.choice(ids), rng.choice([0, 1, 2, "0"])]  # may form a cycle
            elif action == 3:
                node["class_type"] = rng.choice([n["class_type"] for n in prompt.values()])
            else:
                prompt.pop(rng.choice(ids), None)
        out.append(prompt)
    return out


def test_mutated_workflows_agree(server: httpx.Client, live_defs: NodeDefs) -> None:
    """Random edits of real workflows: same status and error type; same errors per input when no
    exception is involved (an exception stops a node's checks at a point that depends on the
    server's set order, so which other errors get reported then varies run to run)."""
    files = set(live_defs["LoadImage"].input("image").choices or ())  # type: ignore[union-attr]
    validators = {"LoadImage": file_validator("image", files.__contains__)}
    for prompt in _mutants(40, seed=20261128):
        body = {"prompt": prompt, "prompt_id": f"comfyctl-live-{uuid.uuid4().hex}"}
        answer = server.post("/prompt", json=body)
        if answer.status_code == 200:  # accepted: keep the shared server's queue short
            server.post("/queue", json={"delete": [body["prompt_id"]]})
        ours = validate_request(body, live_defs, custom_validators=validators)
        assert ours.status == answer.status_code, (prompt, answer.text)
        if answer.status_code == 500:
            continue
        real = answer.json()
        assert (ours.body.get("error") or {}).get("type") == (real.get("error") or {}).get("type"), prompt
        kinds = {t for _, t, _ in per_input(real) | per_input(ours.body)}
        if not any(t.startswith("exception") for t in kinds):
            assert per_input(ours.body) == per_input(real), prompt


def test_frontend_prompts_agree(server: httpx.Client, live_defs: NodeDefs) -> None:
    """The official frontend's API prompts (ui2api): same status and errors as the live server.

    Prompts we expect to be accepted are posted only when they use cheap core nodes (they run);
    those with API nodes or model loaders are compared only when we expect a rejection.
    """
    validators = {
        cls: file_validator(kind, set(live_defs[cls].input(name).choices or ()).__contains__)  # type: ignore[union-attr]
        for cls, (name, kind) in FILE_LOADERS.items()
        if cls in live_defs
    }
    compared = 0
    for path in sorted((FIXTURES / "ui2api").glob("*.api.json")):
        prompt = json.loads(path.read_text())
        body = {"prompt": prompt, "prompt_id": f"comfyctl-live-{uuid.uuid4().hex}"}
        ours = validate_request(body, live_defs, custom_validators=validators)
        costly = any(
            live_defs[n["class_type"]].raw.get("api_node")
            or model_folder(n["class_type"], "ckpt_name") is not None
            or n["class_type"] in MODEL_INPUTS
            or "Sampler" in n["class_type"]
            for n in prompt.values()
            if n["class_type"] in live_defs
        )
        if ours.status == 200 and costly:
            continue
        answer = server.post("/prompt", json=body)
        if answer.status_code == 200:
            server.post("/queue", json={"delete": [body["prompt_id"]]})
        assert ours.status == answer.status_code, path.name
        assert per_input(ours.body) == per_input(answer.json()), path.name
        compared += 1
    assert compared >= 30  # 37 of the 56 with the fixtures server
