"""Live differential: the sandbox and a real ComfyUI (``COMFYUI_URL``) answer the same.

Every invalid workflow of tests/data/fixtures/errors/ is posted to both; status, content type and JSON
body must agree (tracebacks and set-ordered lists compared structurally, as in
test_sandbox_validation). Then one small image workflow runs on both while a WebSocket listens, and
the message sequences must have the same signatures (type + field names; node order is the real
server's set order, so it is compared as contents plus head and tail).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from comfyctl.testing import Sandbox
from sandbox_helpers import Socket, workflow
from test_sandbox_conformance import assert_same_shape, sig
from test_sandbox_validation import ERROR_CASES, normalize

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Sandbox(root=tmp_path_factory.mktemp("diff")) as sandbox:
        yield sandbox


def post(url: str, case: Path) -> httpx.Response:
    fixture = json.loads(case.read_text())
    content = (
        fixture["request_raw"].encode()
        if "request_raw" in fixture
        else json.dumps(fixture["request_body"]).encode()
    )
    return httpx.post(
        url + "/prompt", content=content, headers={"Content-Type": "application/json"}, timeout=30
    )


@pytest.mark.parametrize("case", ERROR_CASES, ids=[p.stem for p in ERROR_CASES])
def test_same_answer_for_invalid_workflow(live_url: str, sb: Sandbox, case: Path) -> None:
    real, ours = post(live_url, case), post(sb.url, case)
    assert ours.status_code == real.status_code
    assert ours.headers.get("content-type") == real.headers.get("content-type")
    if real.headers.get("content-type", "").startswith("text/plain"):
        assert ours.text == real.text
    elif real.status_code == 200:
        assert set(ours.json()) == set(real.json())
        assert normalize(ours.json()["node_errors"]) == normalize(real.json()["node_errors"])
    else:
        assert normalize(ours.json()) == normalize(real.json())


def run_and_listen(url: str, prompt: dict[str, Any]) -> tuple[str, list[tuple[Any, ...]]]:
    client_id = f"diff-{random.getrandbits(32):08x}"
    with Socket(url, client_id) as ws:
        ws.recv()
        response = httpx.post(url + "/prompt", json={"prompt": prompt, "client_id": client_id}, timeout=30)
        assert response.status_code == 200, response.text
        prompt_id = response.json()["prompt_id"]
        ws.until_done(prompt_id, timeout=120)
    # Queue-change status broadcasts reach every socket, so other users of a shared server add their
    # own; only the connect-time status (with sid) is kept. The fixture replays check the rest.
    return prompt_id, [sig(f) for f in ws.frames if sig(f) != ("status", ("status",))]


def shape(value: Any) -> Any:
    """Keys and value types, recursively (lists by their first item): what a client parses."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def small_workflow(name: str) -> dict[str, Any]:
    """A fixture workflow made fresh (nothing cached on either server) and self-contained."""
    prompt = workflow(name)
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyImage":
            inputs["color"] = random.randrange(1 << 24)
        if node["class_type"] == "LoadImage":
            inputs["image"] = "example.png"  # ships with ComfyUI and with the sandbox
        if str(inputs.get("filename_prefix", "")).startswith("apiref/"):
            inputs["filename_prefix"] = inputs["filename_prefix"].replace("apiref/", "comfyctl_diff/")
    return prompt


@pytest.mark.parametrize("name", ["success", "runtime_error", "outputs_zoo"])
def test_same_message_sequence_for_small_image_workflow(live_url: str, sb: Sandbox, name: str) -> None:
    prompt = small_workflow(name)
    # Run twice on each: the second run meets a warm cache on both, whatever ran on the shared server
    # before. The first run is compared too when nothing in it can already be cached there
    # (LoadImage of example.png may be).
    real_runs = [run_and_listen(live_url, prompt) for _ in range(2)]
    our_runs = [run_and_listen(sb.url, prompt) for _ in range(2)]
    fresh = not any(node["class_type"] == "LoadImage" for node in prompt.values())
    for index in (0, 1) if fresh else (1,):
        assert_same_shape(our_runs[index][1], real_runs[index][1], ordered=False)
    # the finished prompt reads the same through /history and /api/jobs
    (real_id, _), (our_id, _) = real_runs[0], our_runs[0]
    for path in ("/history/{}", "/api/jobs/{}"):
        real_doc = httpx.get(live_url + path.format(real_id), timeout=30).json()
        our_doc = httpx.get(sb.url + path.format(our_id), timeout=30).json()
        real_doc = real_doc.get(real_id, real_doc)
        our_doc = our_doc.get(our_id, our_doc)
        assert shape(our_doc) == shape(real_doc)


#: Read-only requests (or ones the server rejects) whose answers must agree exactly, body included.
PROBES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/prompt", {}),
    ("GET", "/api/prompt", {}),
    ("GET", "/features", {}),
    ("GET", "/object_info/EmptyImage", {}),
    ("GET", "/object_info/NoSuchNode", {}),
    ("GET", "/history/unknown-id", {}),
    ("GET", "/history?max_items=abc", {}),
    ("GET", "/models/nope", {}),
    ("GET", "/jobs", {}),
    ("GET", "/api/internal/logs", {}),
    ("GET", "/nonexistent/route", {}),
    ("GET", "/internal/files/bogus", {}),
    ("GET", "/api/jobs?status=bogus", {}),
    ("GET", "/api/jobs?sort_by=x", {}),
    ("GET", "/api/jobs?sort_order=up", {}),
    ("GET", "/api/jobs?limit=0", {}),
    ("GET", "/api/jobs?limit=abc", {}),
    ("GET", "/api/jobs?offset=x", {}),
    ("GET", "/api/jobs/unknown", {}),
    ("GET", "/view", {}),
    ("GET", "/view?filename=example.png&type=input", {}),
    ("GET", "/view?filename=example.png&type=bogus", {}),
    ("GET", "/view?filename=../x.png", {}),
    ("GET", "/view?filename=/etc/passwd", {}),
    ("GET", "/view?filename=example.png&subfolder=../input&type=output", {}),
    ("GET", "/view?filename=input/example.png&type=input", {}),
    ("GET", "/view?filename=example.png [input]", {}),
    ("GET", "/view?filename=example.png&type=input&channel=rgb", {}),
    ("GET", "/view?filename=example.png&type=input&preview=jpeg", {}),
    ("DELETE", "/prompt", {}),
    ("OPTIONS", "/prompt", {}),
    ("HEAD", "/system_stats", {}),
    ("POST", "/prompt", {"content": b"{not json"}),
    ("POST", "/prompt", {"content": b"[1, 2]"}),
    ("POST", "/prompt", {"content": b'{"prompt": "x"}'}),
    ("POST", "/prompt", {"content": b'{"prompt": {}, "number": "abc"}'}),
    ("POST", "/queue", {"content": b""}),
    ("POST", "/free", {"content": b""}),
    ("POST", "/queue", {"json": {"delete": ["comfyctl-no-such-id"]}}),
    ("POST", "/history", {"json": {"delete": ["comfyctl-no-such-id"]}}),
    ("POST", "/interrupt", {"json": {"prompt_id": "comfyctl-not-running"}}),
    ("POST", "/upload/image", {"files": {"image": ("x.png", b"x", "image/png")}, "data": {"type": "bogus"}}),
    (
        "POST",
        "/upload/image",
        {"files": {"image": ("x.png", b"x", "image/png")}, "data": {"subfolder": "../../e"}},
    ),
    ("POST", "/upload/image", {"data": {"subfolder": "x"}}),
    ("GET", "/system_stats", {"headers": {"Origin": "http://evil.example"}}),
]


def _shape(value: Any) -> Any:
    """Keys and value types, not values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), PROBES, ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(PROBES)]
)
def test_same_answer_to_probe(
    live_url: str, sb: Sandbox, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    real = httpx.request(method, live_url + path, timeout=30, **kwargs)
    ours = httpx.request(method, sb.url + path, timeout=30, **kwargs)
    assert ours.status_code == real.status_code
    assert ours.headers.get("content-type") == real.headers.get("content-type")
    kind = real.headers.get("content-type", "")
    if method == "HEAD":
        assert ours.content == real.content == b""
    elif kind.startswith("application/json") and path.endswith("/prompt") and method == "GET":
        # The real server is shared: its queue count is whatever other clients queued just now.
        assert _shape(ours.json()) == _shape(real.json())
    elif kind.startswith("application/json"):
        assert ours.json() == real.json()
    elif kind.startswith("text/plain"):
        assert ours.text == real.text
    elif kind.startswith("image/"):
        assert ours.headers.get("content-disposition") == real.headers.get("content-disposition")
