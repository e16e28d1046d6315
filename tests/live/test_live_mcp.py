"""The MCP server against a real ComfyUI (``COMFYUI_URL=... pytest -m live``), over memory and stdio.

Tiny, unique workflows (a random color defeats the cache) on a shared CPU server: other jobs may
run, so waits loop on wait_job instead of assuming the queue is ours. Only our own prompts are
cancelled.
"""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from mcp_support import Session, connected, images_of, tiny
from test_mcp_stdio import subprocess_session

pytestmark = pytest.mark.live


def fresh_color() -> int:
    return uuid.uuid4().int % 2**24


def slow(blurs: int = 24) -> dict[str, Any]:
    """A chain of blurs on a 1024 px batch: several seconds on a CPU, interruptible at each node."""
    wf: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 1024, "height": 1024, "batch_size": 2, "color": fresh_color()},
        }
    }
    for i in range(2, blurs + 2):
        wf[str(i)] = {
            "class_type": "ImageBlur",
            "inputs": {"image": [str(i - 1), 0], "blur_radius": 15, "sigma": 2.0},
        }
    wf["99"] = {"class_type": "PreviewImage", "inputs": {"images": [str(blurs + 1), 0]}}
    return wf


async def finish(s: Session, prompt_id: str, rounds: int = 20) -> dict[str, Any]:
    """wait_job until the prompt ends (other users' jobs may be ahead of ours)."""
    doc: dict[str, Any] = {}
    for _ in range(rounds):
        doc = await s.ok("wait_job", {"prompt_id": prompt_id, "wait_s": 60})
        if doc["status"] == "success":
            return doc
        assert doc["status"] in ("pending", "running") and doc["prompt_id"] == prompt_id
    raise AssertionError(f"{prompt_id} did not finish: {doc}")


async def test_status_and_run_with_a_thumbnail(live_url: str, tmp_path: Path) -> None:
    async with connected(live_url, tmp_path) as s:
        status = await s.ok("status")
        assert status["reachable"] is True and status["comfyui_version"] and status["devices"]
        res = await s.call(
            "run_workflow", {"workflow": tiny(fresh_color(), prefix="comfyctl_live/mcp"), "wait_s": 100}
        )
        assert not res.is_error, res.content
        doc = res.structured_content
        assert doc is not None
        if doc["status"] != "success":  # a busy shared server: keep waiting by id
            doc = await finish(s, doc["prompt_id"])
            got = await s.call("get_outputs", {"prompt_id": doc["prompt_id"]})
            assert images_of(got)
        else:
            assert images_of(res)  # the thumbnail
        assert doc["outputs"][0]["filename"].endswith(".png")


async def test_longer_than_wait_s_then_wait_job(live_url: str, tmp_path: Path) -> None:
    async with connected(live_url, tmp_path) as s:
        first = await s.ok("run_workflow", {"workflow": slow(), "wait_s": 1})
        assert first["status"] in ("pending", "running") and first["next"]["tool"] == "wait_job"
        done = await finish(s, first["prompt_id"])
        assert done["prompt_id"] == first["prompt_id"]
        assert (await s.ok("job_status", {"prompt_id": first["prompt_id"]}))["status"] == "success"


async def test_targeted_cancel_over_stdio(live_url: str, tmp_path: Path) -> None:
    async with subprocess_session(live_url, tmp_path) as s:
        a = await s.ok("run_workflow", {"workflow": slow(), "wait_s": 0})
        b = await s.ok(
            "run_workflow", {"workflow": tiny(fresh_color(), prefix="comfyctl_live/mcp"), "wait_s": 0}
        )
        await s.until_status(a["prompt_id"], "running", "success", tries=6000)
        outcome = (await s.ok("cancel_job", {"prompt_id": a["prompt_id"]}))["outcome"]
        assert outcome in ("interrupted", "dequeued", "cleared")
        done = await finish(s, b["prompt_id"])  # the other job is left to finish
        assert done["status"] == "success"
        if outcome == "interrupted":
            status = await s.until_status(a["prompt_id"], "interrupted", tries=6000)
            assert status["status"] == "interrupted"


async def test_upload_then_load_image(live_url: str, tmp_path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (fresh_color() % 256, 10, 200)).save(buf, "PNG")
    name = f"comfyctl_mcp_{uuid.uuid4().hex[:8]}.png"
    async with connected(live_url, tmp_path) as s:
        up = await s.ok(
            "upload_image", {"data_base64": base64.b64encode(buf.getvalue()).decode(), "filename": name}
        )
        flow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": up["ref"]}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
            "3": {
                "class_type": "SaveImage",
                "inputs": {"images": ["2", 0], "filename_prefix": "comfyctl_live/mcp"},
            },
        }
        doc = await s.ok("run_workflow", {"workflow": flow, "wait_s": 100})
        if doc["status"] != "success":
            doc = await finish(s, doc["prompt_id"])
        got = await s.ok("get_outputs", {"prompt_id": doc["prompt_id"], "save_to": str(tmp_path / "out")})
        assert Path(got["saved"][0]).is_file()
