"""POST /prompt on the sandbox answers exactly like ComfyUI 0.8.0 for every captured error case.

Compared per fixture in tests/data/fixtures/errors/: the status, the content type, and the JSON body
key by key. Two fields are compared structurally because they cannot match byte for byte:
``traceback`` entries are reduced to (file basename, line, function) since the real server's paths
are its own, and lists whose order is Python set order on the server (``errors`` of a node,
``dependent_outputs``) are compared sorted. Every other value must be equal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl.testing import Sandbox
from conftest import FIXTURES

ERROR_CASES = sorted((FIXTURES / "errors").glob("*.json"))
_FRAME = re.compile(r'File "(?:[^"]*/)?([^/"]+)", line (\d+), in (\w+)')


def normalize(value: Any, key: str = "") -> Any:
    """Make server-specific parts comparable (see the module docstring)."""
    if key == "traceback" and isinstance(value, list):
        found = [(line, _FRAME.search(line)) for line in value]
        return [(match.groups() if match else line) for line, match in found]
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        if key in ("errors", "dependent_outputs"):
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Sandbox(root=tmp_path_factory.mktemp("sb")) as sb:
        sb.pause_worker()  # accepted prompts stay queued: this module only looks at answers
        yield sb


@pytest.mark.parametrize("case", ERROR_CASES, ids=[p.stem for p in ERROR_CASES])
def test_error_fixture_reproduced(shared_sandbox: Sandbox, case: Path) -> None:
    fixture = json.loads(case.read_text())
    if "request_raw" in fixture:
        content = fixture["request_raw"].encode()
    else:
        content = json.dumps(fixture["request_body"]).encode()
    response = httpx.post(
        shared_sandbox.url + "/prompt", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == fixture["status"]
    assert response.headers["content-type"] == fixture["content_type"]
    if fixture["content_type"].startswith("text/plain"):
        assert response.text == fixture["response"]
        return
    body = response.json()
    expected = fixture["response"]
    if fixture["status"] == 200:  # ids and numbers are the server's own; the rest must match
        assert set(body) == set(expected)
        assert normalize(body["node_errors"]) == normalize(expected["node_errors"])
    else:
        assert normalize(body) == normalize(expected)


def test_error_fixtures_exist() -> None:
    assert len(ERROR_CASES) >= 20
