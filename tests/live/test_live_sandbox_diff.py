"""Live differential: the sandbox and a real ComfyUI (``COMFYUI_URL``) answer the same.

Every invalid workflow of ../shared/fixtures/errors/ is posted to both; status, content type and JSON
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


def run_and_listen(url: str, prompt: dict[str, Any]) -> list[tuple[Any, ...]]:
    client_id = f"diff-{random.getrandbits(32):08x}"
    with Socket(url, client_id) as ws:
        ws.recv()
        response = httpx.post(url + "/prompt", json={"prompt": prompt, "client_id": client_id}, timeout=30)
        assert response.status_code == 200, response.text
        ws.until_done(response.json()["prompt_id"], timeout=120)
    return [sig(f) for f in ws.frames]


def test_same_message_sequence_for_small_image_workflow(live_url: str, sb: Sandbox) -> None:
    prompt = workflow("success")
    prompt["1"]["inputs"]["color"] = random.randrange(1 << 24)  # nothing cached on either server
    prompt["3"]["inputs"]["filename_prefix"] = "comfyctl_diff/run"
    real = run_and_listen(live_url, prompt)
    ours = run_and_listen(sb.url, prompt)
    assert_same_shape(ours, real, ordered=False)
