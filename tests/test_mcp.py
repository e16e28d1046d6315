"""The MCP server in-process (the SDK's client over memory streams) against the sandbox: every tool."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from comfyctl.mcp.server import tool_names
from comfyctl.mcp.thumbnails import MAX_SIDE
from comfyctl.testing import Sandbox
from conftest import FIXTURES
from mcp_support import connected, demo, images_of, links_of, text_of, tiny

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _color() -> int:
    return random.randrange(1, 1 << 24)


async def test_starting_does_no_io_and_lists_every_tool_with_schemas(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with connected(url, tmp_path) as s:
        tools = (await s.client.list_tools()).tools
        assert not s.runtime.started  # listing tools never touches ComfyUI
        assert [t.name for t in tools] == tool_names()
        for tool in tools:
            assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
            assert tool.description and tool.input_schema["type"] == "object"
        run = next(t for t in tools if t.name == "run_workflow").input_schema["properties"]
        assert run["wait_s"]["maximum"] == 110 and run["wait_s"]["default"] == 50


async def test_status_up_and_unreachable(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        doc = await s.ok("status")
        assert doc["reachable"] is True and doc["comfyui_version"] == "0.8.0"
        assert doc["queue"] == {"running": 0, "pending": 0} and doc["devices"]
    async with connected(f"http://127.0.0.1:{_closed_port()}", tmp_path, retries=0) as s:
        doc = await s.ok("status")  # a normal answer, not a crash
        assert doc["reachable"] is False and doc["error"]["code"] == "unreachable" and doc["hint"]


async def test_nodes_models_inventory(sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.root is not None
    (sandbox.root / "models" / "checkpoints").mkdir(parents=True, exist_ok=True)
    (sandbox.root / "models" / "checkpoints" / "mcp_test.safetensors").write_bytes(b"x")
    async with connected(sandbox.url, tmp_path) as s:
        page = await s.ok("list_nodes", {"filter": "Image*", "limit": 3})
        assert len(page["nodes"]) == 3 and page["count"] > 3 and page["next_offset"] == 3
        assert all("class_type" in n and "category" in n for n in page["nodes"])
        nxt = await s.ok("list_nodes", {"filter": "Image*", "limit": 3, "offset": 3})
        assert {n["class_type"] for n in nxt["nodes"]}.isdisjoint({n["class_type"] for n in page["nodes"]})
        info = await s.ok("node_info", {"class_type": "ImageScale"})
        width = next(i for i in info["inputs"] if i["name"] == "width")
        assert width["type"] == "INT" and "min" in width and "default" in width
        method = next(i for i in info["inputs"] if i["name"] == "upscale_method")
        assert "bilinear" in method["choices"] and info["outputs"][0]["type"] == "IMAGE"
        bad = await s.error("node_info", {"class_type": "ImageScal"}, code="usage")
        assert "ImageScale" in bad["hint"]
        folders = await s.ok("list_models")
        assert "checkpoints" in folders["folders"]
        files = await s.ok("list_models", {"folder": "checkpoints", "filter": "mcp_*"})
        assert files["files"] == ["mcp_test.safetensors"]
        await s.error("list_models", {"folder": "nope"}, code="usage")
        inv = await s.ok("inventory", {"refresh": True})
        assert (
            inv["server"] == s.runtime.client.url and "mcp_test.safetensors" in inv["models"]["checkpoints"]
        )
        assert (tmp_path / "state").is_dir()  # cached like 'comfyctl inventory'


async def test_validate_convert_params(sandbox: Sandbox, tmp_path: Path) -> None:
    ui = json.loads((FIXTURES / "ui2api" / "default.ui.json").read_text())
    async with connected(sandbox.url, tmp_path) as s:
        good = await s.ok("validate_workflow", {"workflow": demo()})
        assert good["ok"] is True and good["problems"] == [] and good["format"] == "api"
        bad_flow = demo()
        bad_flow["1"]["inputs"]["width"] = 0
        bad_flow["3"]["inputs"]["upscale_method"] = "nope"
        bad = await s.ok("validate_workflow", {"workflow": json.dumps(bad_flow)})  # a verdict, not an error
        assert bad["ok"] is False
        where = {(p["node_id"], p["input_name"]) for p in bad["problems"]}
        assert {("1", "width"), ("3", "upscale_method")} <= where
        assert all(p["class_type"] and p["text"] for p in bad["problems"])
        conv = await s.ok("convert_workflow", {"workflow": ui})
        expected = json.loads((FIXTURES / "ui2api" / "default.api.json").read_text())
        assert conv["format"] == "ui"
        assert {k: v["class_type"] for k, v in conv["api"].items()} == {
            k: v["class_type"] for k, v in expected.items()
        }
        path = tmp_path / "flow.json"
        path.write_text(json.dumps(demo()))
        params = await s.ok("workflow_params", {"workflow": str(path)})
        refs = {(p["node_id"], p["input"]) for p in params["params"]}
        assert ("1", "width") in refs and ("2", "blur_radius") in refs
        await s.error("validate_workflow", {"workflow": "{not json"}, code="bad_workflow")
        await s.error("validate_workflow", {"workflow": str(tmp_path / "missing.json")}, code="bad_workflow")


async def test_run_to_completion_with_overrides_progress_thumbnails_and_links(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults.node("2", delay=0.05, steps=3)
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        notes.append((value, total, message))

    async with connected(sandbox.url, tmp_path) as s:
        res = await s.call(
            "run_workflow",
            {"workflow": demo(), "set": ["Canvas.width=96", "Canvas.height=64", f"1.color={_color()}"]},
            progress_callback=on_progress,
        )
        assert not res.is_error, text_of(res)
        doc = res.structured_content
        assert doc is not None and doc["status"] == "success" and doc["prompt_id"]
        assert len(doc["outputs"]) == 2 and doc["queue_position"] is None
        assert doc["next"]["tool"] == "get_outputs"
        for out in doc["outputs"]:
            assert out["resource"].startswith(f"comfyui://outputs/{doc['prompt_id']}/")
        assert len(images_of(res)) == 2 and {i.mime_type for i in images_of(res)} == {"image/jpeg"}
        assert {link.uri for link in links_of(res)} == {o["resource"] for o in doc["outputs"]}
        # progress notifications while waiting: increasing, with the human line as message
        values = [v for v, _, _ in notes]
        assert values and values == sorted(values) and notes[-1][1] == 6
        entry = sandbox.history()[doc["prompt_id"]]
        assert entry["prompt"][2]["1"]["inputs"]["width"] == 96  # the override reached the server


async def test_seed_and_bad_arguments(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        done = await s.ok("run_workflow", {"workflow": tiny(_color()), "seed": "random"})
        assert any("no seed input" in w for w in done["warnings"])
        res = await s.call("run_workflow", {"workflow": demo(), "wait_s": 111})
        assert res.is_error and "wait_s" in text_of(res) and "110" in text_of(res)  # refused by the schema
        res = await s.call("run_workflow", {"workflow": demo(), "seed": "sometimes"})
        assert res.is_error and "seed" in text_of(res)
        bad = await s.error(
            "run_workflow", {"workflow": demo(), "set": ["Nope.width=3"]}, code="bad_parameter"
        )
        assert "Nope" in bad["message"]


async def test_slow_job_past_wait_s_returns_the_id_then_wait_job_finishes_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.pause_worker()
    async with connected(sandbox.url, tmp_path) as s:
        first = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0.2})
        pid = first["prompt_id"]
        assert first["status"] == "pending" and first["queue_position"] == 0
        assert first["next"] == {"tool": "wait_job", "arguments": {"prompt_id": pid, "wait_s": 50.0}}
        assert (await s.ok("job_status", {"prompt_id": pid}))["status"] == "pending"
        again = await s.ok("wait_job", {"prompt_id": pid, "wait_s": 0.1})
        assert again["status"] == "pending" and again["prompt_id"] == pid
        sandbox.resume_worker()
        done = await s.ok("wait_job", {"prompt_id": pid, "wait_s": 30})
        assert done["status"] == "success" and done["prompt_id"] == pid and len(done["outputs"]) == 1
        status = await s.ok("job_status", {"prompt_id": pid})
        assert status["status"] == "success" and status["outputs"][0]["filename"].endswith(".png")


async def test_running_job_reports_node_and_step(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.node("2", delay=60, steps=600)  # interruptible at every step
    async with connected(sandbox.url, tmp_path) as s:
        first = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        pid = first["prompt_id"]
        await s.until_status(pid, "running")
        doc = await s.ok("wait_job", {"prompt_id": pid, "wait_s": 0.3})
        assert doc["status"] == "running" and doc["queue_position"] is None
        assert doc["progress"]["nodes_total"] == 2 and doc["progress"]["line"]
        status = await s.ok("job_status", {"prompt_id": pid})
        assert status["status"] == "running" and status["progress"]["node"] == "2"
        assert (await s.ok("cancel_job", {"prompt_id": pid}))["outcome"] == "interrupted"
        assert (await s.until_status(pid, "interrupted"))["status"] == "interrupted"


async def test_restart_between_calls_is_unknown_never_done(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        done = await s.ok("run_workflow", {"workflow": tiny(_color())})
        sandbox.pause_worker()
        queued = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        sandbox.restart()  # queue and history lost
        for pid in (done["prompt_id"], queued["prompt_id"]):
            doc = await s.ok("job_status", {"prompt_id": pid})
            assert doc["status"] == "unknown" and doc["outputs"] == [] and doc["hint"]
        lost = await s.error("wait_job", {"prompt_id": queued["prompt_id"], "wait_s": 5}, code="job_lost")
        assert lost["details"]["prompt_id"] == queued["prompt_id"]
        await s.error("get_outputs", {"prompt_id": done["prompt_id"]}, code="job_lost")
        sandbox.resume_worker()
        again = await s.ok("run_workflow", {"workflow": tiny(_color())})  # the server keeps serving
        assert again["status"] == "success"


async def test_websocket_dropped_mid_job(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.node("2", delay=0.2)
    sandbox.faults.drop_websockets(after_event="executing")
    async with connected(sandbox.url, tmp_path) as s:
        doc = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 30})
        assert doc["status"] == "success" and len(doc["outputs"]) == 1


async def test_server_400_lists_every_node_and_input(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = demo()
    flow["1"]["inputs"]["width"] = 0
    flow["3"]["inputs"]["crop"] = "sideways"
    async with connected(sandbox.url, tmp_path) as s:
        doc = await s.error("run_workflow", {"workflow": flow, "validate": False}, code="prompt_rejected")
        where = {(p["node_id"], p["input_name"]) for p in doc["details"]["problems"]}
        assert {("1", "width"), ("3", "crop")} <= where
        offline = await s.error("run_workflow", {"workflow": flow}, code="invalid_workflow")
        assert {("1", "width"), ("3", "crop")} <= {
            (p["node_id"], p["input_name"]) for p in offline["details"]["problems"]
        }


async def test_server_500_carries_the_log_tail_and_the_prompt_id(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        await s.ok("run_workflow", {"workflow": tiny(_color())})  # something in the server's log
        sandbox.faults.route("/prompt", status=500, times=1, method="POST")
        doc = await s.error(
            "run_workflow", {"workflow": tiny(_color()), "prompt_id": "mcp-500"}, code="server_error"
        )
        assert doc["details"]["status"] == 500 and doc["details"]["log_tail"]
        assert doc["details"]["prompt_id"] == "mcp-500"
        retry = await s.ok("run_workflow", {"workflow": tiny(_color()), "prompt_id": "mcp-500"})
        assert retry["status"] == "success" and retry["prompt_id"] == "mcp-500"


async def test_execution_error_and_diagnose(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.node("2", error="CUDA out of memory", exception_type="torch.OutOfMemoryError")
    async with connected(sandbox.url, tmp_path) as s:
        doc = await s.error(
            "run_workflow", {"workflow": tiny(_color()), "prompt_id": "mcp-oom"}, code="execution_failed"
        )
        assert doc["details"]["prompt_id"] == "mcp-oom" and doc["details"]["node_id"] == "2"
        assert doc["details"]["advice"]["steps"]
        status = await s.ok("job_status", {"prompt_id": "mcp-oom"})
        assert status["status"] == "error" and status["error"]["node_id"] == "2"
        diag = await s.ok("diagnose", {"prompt_id": "mcp-oom"})
        assert diag["verdict"] in ("healthy", "degraded") and diag["checks"]
        assert diag["prompt"]["status"] == "error" and diag["prompt"]["advice"]["summary"]
        unknown = await s.ok("diagnose", {"prompt_id": "never-seen"})
        assert unknown["prompt"]["status"] == "unknown" and unknown["prompt"]["advice"]


async def test_server_down_exports_offline_then_submit_offline(sandbox: Sandbox, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{_closed_port()}"
    async with connected(down, tmp_path, retries=0) as s:
        doc = await s.error("run_workflow", {"workflow": tiny(_color()), "name": "later"}, code="unreachable")
        saved = doc["details"]["saved"]
        assert Path(saved["path"]).is_file() and saved["name"] == "later"
        assert doc["details"]["next"]["tool"] == "submit_offline" and "submit_offline" in doc["hint"]
        listed = await s.ok("list_offline")
        assert [p["name"] for p in listed["pending"]] == ["later"]
        verdict = await s.ok("diagnose")
        assert verdict["verdict"] == "down"
    async with connected(sandbox.url, tmp_path) as s:
        sent = await s.ok("submit_offline", {"names": ["default/later"]})
        (item,) = sent["submitted"]
        assert item["status"] == "submitted" and item["exactly_once"] is True
        done = await s.ok("wait_job", {"prompt_id": item["prompt_id"], "wait_s": 30})
        assert done["status"] == "success"
        assert (await s.ok("list_offline"))["pending"] == []
        again = await s.ok("submit_offline")
        assert again["submitted"] == []


async def test_export_workflow_and_list(sandbox: Sandbox, tmp_path: Path) -> None:
    ui = json.loads((FIXTURES / "ui2api" / "default.ui.json").read_text())
    async with connected(sandbox.url, tmp_path) as s:
        doc = await s.ok("export_workflow", {"workflow": ui, "name": "night", "project": "p1"})
        assert Path(doc["path"]).is_file() and Path(doc["ui_path"]).is_file()
        assert doc["path"].startswith(str(tmp_path / "projects" / "p1"))
        listed = await s.ok("list_offline", {"project": "p1", "submitted": True})
        assert [p["name"] for p in listed["pending"]] == ["night"] and listed["submitted"] == []
        await s.error("export_workflow", {"workflow": demo(), "name": "../escape"}, code="usage")


async def test_huge_output_image_stays_under_the_cap(sandbox: Sandbox, tmp_path: Path) -> None:
    from PIL import Image

    noise = Image.frombytes("RGB", (1600, 1200), random.randbytes(1600 * 1200 * 3))
    big = tmp_path / "noise.png"
    noise.save(big, compress_level=1)
    flow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "noise.png"}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "huge"}},
    }
    async with connected(sandbox.url, tmp_path) as s:
        up = await s.ok("upload_image", {"path": str(big)})
        assert up["ref"] == "noise.png"
        res = await s.call("run_workflow", {"workflow": flow, "wait_s": 60})
        assert not res.is_error, text_of(res)
        doc = res.structured_content
        assert doc is not None and len(doc["outputs"]) == 3
        sizes = [(sandbox.output_dir / o["filename"]).stat().st_size for o in doc["outputs"]]
        assert min(sizes) > 1 << 20  # each original is megabytes
        total = sum(len(i.data) for i in images_of(res))
        assert 0 < total <= 256 * 1024 and len(json.dumps(doc)) < 64 * 1024
        for note in doc["thumbnails"]:
            if note["thumbnail"] is not None:
                assert max(note["width"], note["height"]) <= MAX_SIDE
        # a smaller budget: fewer thumbnails, the others left out with the reason
        small = await s.call("get_outputs", {"prompt_id": doc["prompt_id"], "max_image_bytes": 40_000})
        assert sum(len(i.data) for i in images_of(small)) <= 40_000
        notes = small.structured_content["thumbnails"]
        assert any(n["thumbnail"] is None and "budget" in n["reason"] for n in notes)
        none = await s.call("get_outputs", {"prompt_id": doc["prompt_id"], "max_image_bytes": 0})
        assert images_of(none) == [] and len(links_of(none)) == 3


async def test_two_jobs_cancel_one_leaves_the_other(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.node("11", delay=60, steps=600)
    async with connected(sandbox.url, tmp_path) as s:
        a = await s.ok("run_workflow", {"workflow": tiny(_color(), ids=("10", "11")), "wait_s": 0})
        await s.until_status(a["prompt_id"], "running")
        b = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        assert b["status"] == "pending"
        c = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        # pending job cancelled: dequeued, the others untouched
        assert (await s.ok("cancel_job", {"prompt_id": c["prompt_id"]}))["outcome"] == "dequeued"
        # the running one, while another waits: only that one stops
        assert (await s.ok("cancel_job", {"prompt_id": a["prompt_id"]}))["outcome"] == "interrupted"
        done = await s.ok("wait_job", {"prompt_id": b["prompt_id"], "wait_s": 30})
        assert done["status"] == "success"
        assert (await s.until_status(a["prompt_id"], "interrupted"))["status"] == "interrupted"
        assert (await s.ok("job_status", {"prompt_id": c["prompt_id"]}))["status"] == "unknown"
        none = await s.ok("cancel_job", {"prompt_id": "never-seen"})
        assert none["outcome"] == "not_found"


async def test_same_prompt_id_never_queues_twice(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.pause_worker()
    flow = tiny(_color())
    async with connected(sandbox.url, tmp_path) as s:
        first = await s.ok("run_workflow", {"workflow": flow, "prompt_id": "mcp-once", "wait_s": 0})
        second = await s.ok("run_workflow", {"workflow": flow, "prompt_id": "mcp-once", "wait_s": 0})
        assert first["prompt_id"] == second["prompt_id"] == "mcp-once"
        queue = await s.ok("queue")
        assert [i["prompt_id"] for i in queue["pending"]] == ["mcp-once"]
        sandbox.resume_worker()
        third = await s.ok("run_workflow", {"workflow": flow, "prompt_id": "mcp-once", "wait_s": 30})
        assert third["status"] == "success"
        fourth = await s.ok("run_workflow", {"workflow": flow, "prompt_id": "mcp-once"})
        assert fourth["status"] == "success" and fourth["outputs"] == third["outputs"]
        assert list(sandbox.history()) == ["mcp-once"]  # one prompt on the server


async def test_cancelled_tool_call_leaves_the_prompt_running(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.pause_worker()
    async with connected(sandbox.url, tmp_path) as s:
        # the host gives up on the call (its timeout): notifications/cancelled reaches the server
        with pytest.raises(MCPError):
            await s.call(
                "run_workflow",
                {"workflow": tiny(_color()), "prompt_id": "mcp-cancelled", "wait_s": 100},
                read_timeout_seconds=0.5,
            )
        # ... and a call cancelled from the client's own task
        task = asyncio.create_task(
            s.call("wait_job", {"prompt_id": "mcp-cancelled", "wait_s": 100}),
        )
        await asyncio.sleep(0)
        assert (await s.ok("job_status", {"prompt_id": "mcp-cancelled"}))["status"] == "pending"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await s.ok("status"))["reachable"] is True  # the server keeps serving
        assert (await s.ok("job_status", {"prompt_id": "mcp-cancelled"}))["status"] == "pending"
        sandbox.resume_worker()
        done = await s.ok("wait_job", {"prompt_id": "mcp-cancelled", "wait_s": 30})
        assert done["status"] == "success"


async def test_get_outputs_save_to_with_safe_paths_and_resources(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        sandbox.faults.hostile_names = ["../../evil.png", "/etc/passwd_x"]
        flow = tiny(_color(), prefix="mcp_safe")
        flow["3"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "b"}}
        run = await s.ok("run_workflow", {"workflow": flow})
        pid = run["prompt_id"]
        assert {o["filename"] for o in run["outputs"]} == {"../../evil.png", "/etc/passwd_x"}
        dest = tmp_path / "dl" / "inner"
        got = await s.ok("get_outputs", {"prompt_id": pid, "save_to": str(dest)})
        for out in got["outputs"]:
            if out["path"] is None:  # ComfyUI's /view itself refuses such a name (400)
                assert out["error"]["details"]["status"] == 400
            else:  # never outside save_to
                assert dest.resolve() in Path(out["path"]).resolve().parents
        assert not (tmp_path / "evil.png").exists() and not (tmp_path / "dl" / "evil.png").exists()
        sandbox.faults.clear()
        ok = await s.ok("run_workflow", {"workflow": tiny(_color(), prefix="mcp_res")})
        out = ok["outputs"][0]
        read = await s.client.read_resource(out["resource"])
        (content,) = read.contents
        raw = base64.b64decode(content.blob)  # type: ignore[union-attr]
        assert raw == (sandbox.output_dir / out["filename"]).read_bytes()
        assert content.mime_type == "image/png"
        nodes = await s.client.read_resource("comfyui://nodes/ImageScale")
        assert json.loads(nodes.contents[0].text)["name"] == "ImageScale"  # type: ignore[union-attr]
        every = await s.client.read_resource("comfyui://nodes")
        assert "SaveImage" in json.loads(every.contents[0].text)  # type: ignore[union-attr]
        with pytest.raises(MCPError):
            await s.client.read_resource(f"comfyui://outputs/{pid}/9/none.png")
        templates = (await s.client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} >= {"comfyui://outputs/{prompt_id}/{node}/{filename}"}
        sandbox.pause_worker()
        pending = await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        early = await s.error("get_outputs", {"prompt_id": pending["prompt_id"]}, code="usage")
        assert "wait_job" in early["hint"]
        sandbox.resume_worker()


async def test_upload_variants(sandbox: Sandbox, tmp_path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 128)).save(buf, "PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    async with connected(sandbox.url, tmp_path) as s:
        up = await s.ok("upload_image", {"data_base64": data, "filename": "mcp_b64.png", "subfolder": "m"})
        assert up["ref"] == "m/mcp_b64.png" and (sandbox.input_dir / "m" / "mcp_b64.png").is_file()
        mask = await s.ok(
            "upload_image", {"data_base64": data, "filename": "mask.png", "mask_for": "m/mcp_b64.png"}
        )
        assert mask["name"]
        await s.error("upload_image", {}, code="usage")
        await s.error("upload_image", {"data_base64": "!!", "filename": "x.png"}, code="usage")
        await s.error("upload_image", {"path": str(tmp_path / "missing.png")}, code="usage")
        flow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": up["ref"]}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "mcp_up"}},
        }
        assert (await s.ok("run_workflow", {"workflow": flow}))["status"] == "success"


async def test_queue_history_free_interrupt_clear(sandbox: Sandbox, tmp_path: Path) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        done = await s.ok("run_workflow", {"workflow": tiny(_color())})
        hist = await s.ok("history", {"max_items": 5})
        assert done["prompt_id"] in {i["prompt_id"] for i in hist["items"]}
        freed = await s.ok("free_memory", {"unload_models": True, "free_memory": False})
        assert freed == {"unload_models": True, "free_memory": False}
        await s.error("free_memory", {"unload_models": False, "free_memory": False}, code="usage")
        sandbox.pause_worker()
        for _ in range(2):
            await s.ok("run_workflow", {"workflow": tiny(_color()), "wait_s": 0})
        queue = await s.ok("queue")
        assert [i["position"] for i in queue["pending"]] == [0, 1]
        refused = await s.error("clear_queue", {}, code="usage")
        assert "confirm" in refused["message"] and "cancel_job" in refused["hint"]
        assert len((await s.ok("queue"))["pending"]) == 2  # nothing was done without confirm
        assert (await s.ok("clear_queue", {"confirm": True}))["cleared"] == 2
        await s.error("interrupt", {"confirm": False}, code="usage")
        assert (await s.ok("interrupt", {"confirm": True}))["interrupted"] is None
        sandbox.resume_worker()


async def test_secrets_never_appear_in_results(tmp_path: Path) -> None:
    token = "s3cr3t-token-value"
    with Sandbox(port=0, root=tmp_path / "comfy", token=token) as sb:
        async with connected(sb.url, tmp_path, token="wrong-" + token) as s:
            doc = await s.error("run_workflow", {"workflow": tiny(_color())}, code="unauthorized")
            status = await s.call("status")
            for text in (json.dumps(doc), json.dumps(status.structured_content), text_of(status)):
                assert token not in text
        async with connected(sb.url, tmp_path, token=token) as s:
            res = await s.call("run_workflow", {"workflow": tiny(_color())})
            assert not res.is_error
            blob = json.dumps(res.structured_content) + text_of(res)
            assert token not in blob


async def test_kept_node_definitions_never_reject_what_the_server_accepts(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async with connected(sandbox.url, tmp_path) as s:
        await s.ok("run_workflow", {"workflow": tiny(_color())})  # definitions fetched and kept
        kept = s.runtime.defs
        assert kept is not None
        # another user puts a file in the input folder: the kept LoadImage choices do not list it
        shutil.copy(sandbox.input_dir / "example.png", sandbox.input_dir / "mcp_dropped.png")
        flow: dict[str, Any] = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "mcp_dropped.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "mcp_drop"}},
        }
        verdict = await s.ok("validate_workflow", {"workflow": flow})
        assert verdict["ok"] is True and s.runtime.defs is not kept  # checked again with fresh ones
        shutil.copy(sandbox.input_dir / "example.png", sandbox.input_dir / "mcp_dropped2.png")
        flow["1"]["inputs"]["image"] = "mcp_dropped2.png"
        assert (await s.ok("run_workflow", {"workflow": flow}))["status"] == "success"
        flow["1"]["inputs"]["image"] = "not_there.png"
        bad = await s.ok("validate_workflow", {"workflow": flow})
        assert bad["ok"] is False and bad["problems"][0]["input_name"] == "image"
