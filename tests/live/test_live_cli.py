"""``comfyctl`` against a real ComfyUI (opt-in: ``COMFYUI_URL=... pytest -m live``).

status, upload, run of LoadImage → ImageInvert → SaveImage with ``--set``, queue, cancel (pending
and running), history, free. Jobs are tiny: the server may be shared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from comfyctl.cli.main import cli
from comfyctl.client import Client

pytestmark = pytest.mark.live

INVERT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "comfyctl_live/x"}},
}
# slow enough to stay running for a moment (a progress bar per image, so an interrupt lands fast)
SLOW = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": 0}},
    "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 24}},
    "3": {"class_type": "ImageBlur", "inputs": {"image": ["2", 0], "blur_radius": 15, "sigma": 3.0}},
    "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
}


def cc(url: str, *args: Any) -> Any:
    result = CliRunner().invoke(cli, ["--url", url, *map(str, args)], catch_exceptions=False)
    assert "Traceback" not in result.stderr
    return result


def test_live_status_upload_run_history_free(live_url: str, tmp_path: Path) -> None:
    from PIL import Image

    status = cc(live_url, "status", "--json")
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["comfyui_version"]
    assert "ComfyUI" in cc(live_url, "status").stdout

    png = tmp_path / f"comfyctl_live_{time.time_ns()}.png"
    Image.new("RGB", (32, 24), (10, 200, 30)).save(png)
    # top level: the params module checks --set values against LoadImage's listed files, and the
    # server lists only top-level inputs (a subfolder ref is valid for the server, refused by --set)
    up = cc(live_url, "upload", png, "--json")
    assert up.exit_code == 0, up.stderr
    ref = json.loads(up.stdout)["ref"]
    assert ref == json.loads(up.stdout)["name"] and ref.startswith("comfyctl_live_")

    wf = tmp_path / "invert.json"
    wf.write_text(json.dumps(INVERT))
    prefix = f"comfyctl_live/cli_{time.time_ns()}"
    run = cc(
        live_url,
        "run",
        wf,
        "--set",
        f"LoadImage.image={ref}",
        "--set",
        f"3.filename_prefix={prefix}",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert run.exit_code == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["status"] == "success" and len(doc["saved"]) == 1
    with Image.open(doc["saved"][0]) as im:
        pixel = im.convert("RGB").getpixel((0, 0))
        # inverted in float32 by ComfyUI: 255 - x, give or take one step of rounding
        assert im.size == (32, 24)
        assert all(abs(p - q) <= 1 for p, q in zip(pixel, (245, 55, 225), strict=True))
    with Client(live_url) as c:
        assert Path(doc["saved"][0]).read_bytes() == c.view(
            doc["outputs"][0]["filename"], subfolder=doc["outputs"][0]["subfolder"]
        )

    hist = cc(live_url, "history", "--json")  # all of it: other users of the server add to the newest
    assert doc["prompt_id"] in [i["prompt_id"] for i in json.loads(hist.stdout)["items"]]
    show = cc(live_url, "history", "show", doc["prompt_id"], "--json")
    assert json.loads(show.stdout)["outputs"][0]["filename"] == doc["outputs"][0]["filename"]

    free = cc(live_url, "free", "--free-memory", "--json")
    assert free.exit_code == 0 and json.loads(free.stdout) == {"unload_models": False, "free_memory": True}


def test_live_queue_and_cancel(live_url: str, tmp_path: Path) -> None:
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(SLOW))
    first = cc(live_url, "run", slow, "--no-wait", "--set", f"1.color={int(time.time()) % 65536}")
    second = cc(live_url, "run", slow, "--no-wait", "--set", f"1.color={int(time.time()) % 65536 + 1}")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    a, b = first.stdout.strip(), second.stdout.strip()
    q = json.loads(cc(live_url, "queue", "--json").stdout)
    listed = [i["prompt_id"] for i in q["running"] + q["pending"]]
    assert b in listed or a in listed  # at least one still queued right after submitting
    out_b = json.loads(cc(live_url, "cancel", b, "--json").stdout)
    assert out_b["outcome"] in ("dequeued", "interrupted", "cleared")
    out_a = json.loads(cc(live_url, "cancel", a, "--json").stdout)
    assert out_a["outcome"] in ("dequeued", "interrupted", "cleared")
    for pid in (a, b):
        waited = cc(live_url, "wait", pid, "--timeout", "60")
        # 6: interrupted; 5: dequeued/cleared prompts are in neither queue nor history (lost to a
        # new process); 0: it finished before the cancel landed
        assert waited.exit_code in (0, 5, 6), waited.stderr
    q = json.loads(cc(live_url, "queue", "--json").stdout)
    assert not {a, b} & {i["prompt_id"] for i in q["running"] + q["pending"]}
    print(f"live cancel outcomes: second={out_b['outcome']} first={out_a['outcome']}")
