"""Replays the captured HTTP survey (tests/data/fixtures/http/*.json) against the sandbox.

Every request the sandbox is meant to serve (all but the per-user stores /userdata, /settings writes,
/users and the Origin-header probes, which need headers the survey does not record) must get the same
status and content type as the real server gave. Files the survey's server had are recreated first.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from PIL import Image

from comfyctl.testing import Sandbox
from conftest import FIXTURES
from sandbox_helpers import HTTP

SKIP_PREFIXES = (
    "/userdata",
    "/api/userdata",
    "/v2/userdata",
    "/users",
    "/api/users",
    "/settings",
    "/api/settings",
)


def cases() -> list[dict[str, Any]]:
    out = []
    for name in ("http_survey.json", "http_survey_files.json"):
        for entry in json.loads((FIXTURES / "http" / name).read_text()):
            note = entry.get("note", "").lower()
            if (
                entry["method"] in ("POST", "PATCH")
                or "origin" in note
                or "localhost" in note
                or entry["path"].startswith(SKIP_PREFIXES)
            ):
                continue  # bodies/headers not recorded, or stores the sandbox does not implement
            if entry["path"].startswith(("/api/jobs", "/api/api/jobs")) and entry["status"] == 200:
                continue  # answers depend on the survey server's history
            out.append(entry)
    return out


CASES = cases()


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Sandbox(root=tmp_path_factory.mktemp("survey")) as sandbox:
        (sandbox.output_dir / "apiref").mkdir()
        Image.new("RGB", (64, 48)).save(sandbox.output_dir / "apiref" / "success_00001_.png")
        (sandbox.input_dir / "apiref").mkdir()
        Image.new("RGBA", (8, 8)).save(sandbox.input_dir / "apiref" / "apiref_mask.png")
        yield sandbox


@pytest.mark.parametrize("entry", CASES, ids=[f"{c['method']} {c['path']}" for c in CASES])
def test_survey_request(sb: Sandbox, entry: dict[str, Any]) -> None:
    response = HTTP.request(entry["method"], sb.url + entry["path"].replace(" ", "%20"))
    assert response.status_code == entry["status"]
    if entry["method"] != "HEAD":
        assert response.headers.get("content-type") == entry["content_type"]
    for key, value in (entry.get("headers") or {}).items():
        assert response.headers.get(key) == value


def test_survey_covers_the_routes() -> None:
    assert len(CASES) > 60
